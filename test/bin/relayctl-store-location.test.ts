import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { RELAYCTL, jsonOf, relayctl, tempDataDir, withLocalStore } from './relayctl-process.ts';

const PROJECT_ROOT = path.dirname(path.dirname(RELAYCTL));

const NO_STORE = /^relayctl: no local store in (\S+): start the relay once \(npm start\) or create an empty store \(relayctl init\); or set RELAY_DATA_DIR to the data dir, or give --table for a table in AWS\n$/;

describe('relayctl finds its store or says it cannot', { concurrency: true }, () => {
  test('a data dir without a store is reported, never created, by every command that reads or writes', async (t) => {
    const parent = await tempDataDir(t, 'relayctl-nostore-', { withStore: false });
    const dataDir = path.join(parent, 'nonexistent');
    for (const args of [['user', 'list'], ['user', 'add', 'john@example.org'], ['sender', 'list', 'john@example.org'], ['user', 'show', 'john@example.org']]) {
      const run = await relayctl(args, { dataDir });
      assert.equal(run.code, 4, `${args.join(' ')}: ${run.stderr}`);
      assert.equal(run.stdout, '');
      assert.equal(NO_STORE.exec(run.stderr)?.[1], dataDir, args.join(' '));
    }
    await assert.rejects(access(dataDir), 'nothing was created');
    assert.deepEqual(await readdir(parent), []);

    const empty = await tempDataDir(t, 'relayctl-emptydir-', { withStore: false });
    assert.equal((await relayctl(['user', 'list'], { dataDir: empty })).code, 4);
    assert.deepEqual(await readdir(empty), [], 'an existing but empty data dir gets no store and no lock file');
  });

  test('init creates the store once; commands then work on it', async (t) => {
    const parent = await tempDataDir(t, 'relayctl-init-', { withStore: false });
    const dataDir = path.join(parent, 'relay');
    assert.deepEqual(jsonOf(await relayctl(['--json', 'init'], { dataDir })), { dataDir, created: true });
    const again = await relayctl(['init'], { dataDir });
    assert.equal(again.stdout, `the local store in ${dataDir} exists already\n`);
    const added = await relayctl(['user', 'add', 'john@example.org'], { dataDir });
    assert.equal(added.code, 0, added.stderr);
    const tableInit = await relayctl(['--table', 'relay-users', 'init'], { dataDir });
    assert.equal(tableInit.code, 1);
    assert.match(tableInit.stderr, /^relayctl: init creates the local store only; in AWS the CDK stack creates the table/);
  });

  test('a relative RELAY_DATA_DIR is taken from the project root, from whatever folder relayctl runs in', async (t) => {
    const dataDir = await tempDataDir(t, 'relayctl-relative-');
    await withLocalStore(dataDir, async (store) => store.createUser('john@example.org', 'x'));
    const subfolder = path.join(PROJECT_ROOT, 'lib');
    const relative = path.relative(PROJECT_ROOT, dataDir);
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [RELAYCTL, '--json', 'user', 'list'], {
        cwd: subfolder,
        env: { ...process.env, RELAY_DATA_DIR: relative },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((JSON.parse(run.stdout) as Array<{ login: string }>).map((user) => user.login), ['john@example.org']);
    await assert.rejects(access(path.join(subfolder, relative)), 'no store made under the subfolder');
  });
});
