import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { RELAYCTL, relayctl, type CliRun } from './relayctl-process.ts';

const COMMANDS = [
  ['init'],
  ['user', 'add'], ['user', 'passwd'], ['user', 'disable'], ['user', 'enable'], ['user', 'rm'], ['user', 'list'], ['user', 'show'], ['user', 'set'], ['user', 'suspend'], ['user', 'reinstate'],
  ['sender', 'grant'], ['sender', 'revoke'], ['sender', 'list'],
  ['auth', 'test'], ['config'], ['who'],
  ['import', 'dovecot'], ['import', 'ispmail'],
  ['reputation'], ['message', 'show'],
  ['doctor'],
];

test('every command has --help with usage and examples, on stdout, exit 0', async () => {
  // A few at a time: every run starts a Node process, and the machine may be a small, busy one.
  const runs: CliRun[] = [];
  for (let start = 0; start < COMMANDS.length; start += 4) {
    runs.push(...(await Promise.all(COMMANDS.slice(start, start + 4).map((command) => relayctl([...command, '--help'])))));
  }
  runs.forEach((run, index) => {
    const name = COMMANDS[index]!.join(' ');
    assert.equal(run.code, 0, name);
    assert.match(run.stdout, new RegExp(`^Usage: relayctl ${name}(\\|\\S+)? `, 'm'), name);
    assert.match(run.stdout, /^Examples:\n {2}\$ /m, name);
    assert.match(run.stdout, new RegExp(`\\$ [^\\n]*relayctl (--json )?${name}`), `${name}: an example of itself`);
    assert.match(run.stdout, /^Global Options:\n[\s\S]*--json/m, `${name} shows the global options`);
  });
});

test('the program help documents the store and the exit codes', async () => {
  const help = await relayctl(['--help']);
  assert.equal(help.code, 0);
  for (const line of [/^ {2}0 {3}done$/m, /^ {2}1 {3}bad usage or invalid input/m, /^ {2}2 {3}not found/m, /^ {2}3 {3}conflict/m, /^ {2}4 {3}the store or SES could not be reached/m, /^ {2}5 {3}doctor: at least one check failed$/m, /^ {2}6 {3}auth test: the relay would refuse that login$/m, /^ {2}7 {3}not confirmed/m, /^ {2}70 {2}internal error/m, /RELAY_DATA_DIR/, /--table/, /--profile/, /relayctl init/]) {
    assert.match(help.stdout, line);
  }
});

test('usage errors are one line on stderr and exit 1', async () => {
  const [unknown, missing, extra, option] = await Promise.all([
    relayctl(['frobnicate']),
    relayctl(['user', 'add']),
    relayctl(['user', 'add', 'a@example.org', 'b@example.org']),
    relayctl(['user', 'list', '--no-such-option']),
  ]);
  for (const run of [unknown, missing, extra, option]) {
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^relayctl: [^\n]+\n$/, 'the one prefix of every error');
  }
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  assert.match(missing.stderr, /missing required argument 'address'/);
});

test('a reader that stops early (| head -1) ends relayctl quietly', async () => {
  const child = spawn(process.execPath, [RELAYCTL, 'user', 'set', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Closed before relayctl has started, so every write it makes meets a closed pipe.
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = await once(child, 'close');
  assert.equal(stderr, '');
  assert.equal(code, 0);
});

test('a table in AWS that cannot be reached is exit 4 with one line', async () => {
  // Nothing listens on port 9; credentials are dummies the request never gets to use.
  const run = await relayctl(['user', 'list', '--table', 'relay-users', '--region', 'eu-west-1', '--dynamodb-endpoint', 'http://127.0.0.1:9'], {
    env: { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_MAX_ATTEMPTS: '1' },
  });
  assert.equal(run.code, 4, run.stderr);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^relayctl: the store could not be reached: [^\n]*ECONNREFUSED[^\n]*\n$/);
});
