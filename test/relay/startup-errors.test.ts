import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startLocalRelayProcess } from '../faults/local-relay-process.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one of our entry points through tsx, as `npm start`, the container and `cdk synth` do, with only `env` (and PATH). */
function runEntry(entry: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, entry)], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Exit 1 and exactly these lines on stderr: no stack trace, nothing else. */
function assertFailedWith(run: Run, lines: readonly string[]): void {
  assert.equal(run.code, 1, `exit status; stderr:\n${run.stderr}`);
  assert.equal(run.stderr, lines.map((line) => `${line}\n`).join(''));
  assert.doesNotMatch(run.stdout + run.stderr, /^\s+at /m, 'no stack trace');
}

describe('npm start explains a failed start in a line', () => {
  let dataDir: string;
  let taken: Server;
  let takenPort: number;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'relay-startup-'));
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    takenPort = (taken.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((resolve) => taken.close(resolve));
    await rm(dataDir, { recursive: true, force: true });
  });
  const start = (env: Record<string, string>, dir = dataDir) =>
    runEntry('relay/local/start.ts', { RELAY_DATA_DIR: dir, RELAY_LISTEN: '127.0.0.1', SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0', ...env });

  test('a port another program holds: which port, which setting moves it', async () => {
    assertFailedWith(await start({ SUBMISSION_PORT: String(takenPort) }), [
      `npm start: port ${takenPort} on 127.0.0.1 (SUBMISSION_PORT) is in use by another program: stop it, or set SUBMISSION_PORT to a free port`,
    ]);
    assertFailedWith(await start({ SUBMISSIONS_PORT: String(takenPort) }), [
      `npm start: port ${takenPort} on 127.0.0.1 (SUBMISSIONS_PORT) is in use by another program: stop it, or set SUBMISSIONS_PORT to a free port`,
    ]);
  });

  test('bad settings: one line each, naming the variable', async () => {
    assertFailedWith(await start({ SUBMISSION_PORT: 'smtp', MAX_RECIPIENTS: '99', RECIPIENT_DOMAIN_CHECK: 'maybe' }), [
      'npm start: SUBMISSION_PORT: must be a number',
      'npm start: MAX_RECIPIENTS: Too big: expected number to be <=50',
      'npm start: RECIPIENT_DOMAIN_CHECK: Invalid option: expected one of "on"|"off"',
    ]);
  });

  test('a users store others can read: it refuses, naming the file and the chmod that fixes it', async () => {
    const exposed = await mkdtemp(path.join(tmpdir(), 'relay-exposed-'));
    try {
      await mkdir(path.join(exposed, 'dynamodb'), { mode: 0o700 });
      const file = path.join(exposed, 'dynamodb', '000003.log');
      await writeFile(file, 'password hashes would be here', { mode: 0o644 });
      await chmod(file, 0o644);
      assertFailedWith(await start({}, exposed), [
        `npm start: users store (password hashes) file ${file} is readable by group or others (mode 644): chmod -R go= ${exposed}`,
      ]);
      await chmod(path.join(exposed, 'dynamodb'), 0o755);
      assertFailedWith(await start({}, exposed), [
        `npm start: users store (password hashes) ${exposed}/dynamodb is readable by group or others (mode 755): chmod -R go= ${exposed}`,
      ]);
    } finally {
      await rm(exposed, { recursive: true, force: true });
    }
  });
});

describe('what npm start creates is its owner\'s only', () => {
  test('users store, TLS key and outbox: folders 0700, files 0600', async () => {
    const relay = await startLocalRelayProcess();
    try {
      await relay.addUser('john@example.org', 'correct horse battery staple');
      const modes: Record<string, string> = {};
      const modeOf = async (file: string) => ((await stat(file)).mode & 0o777).toString(8);
      for (const dir of ['dynamodb', 'tls', 'outbox']) {
        modes[dir] = await modeOf(path.join(relay.dataDir, dir));
      }
      modes['tls/key.pem'] = await modeOf(path.join(relay.dataDir, 'tls', 'key.pem'));
      const storeFiles = await readdir(path.join(relay.dataDir, 'dynamodb'));
      assert.ok(storeFiles.length > 0, 'the store has files');
      for (const file of storeFiles) modes[`dynamodb/${file}`] = await modeOf(path.join(relay.dataDir, 'dynamodb', file));
      const expected = Object.fromEntries(Object.keys(modes).map((name) => [name, name.includes('/') ? '600' : '700']));
      assert.deepEqual(modes, expected);
    } finally {
      await relay.dispose();
    }
  });
});

describe('the container entry names the missing settings', () => {
  test('no POLICY_FUNCTION_NAME, no AWS_REGION: one line each, no zod dump', async () => {
    assertFailedWith(await runEntry('relay/main.ts', { TLS_CERT_PEM: 'unused', TLS_KEY_PEM: 'unused' }), [
      'relay: POLICY_FUNCTION_NAME: not set',
      'relay: AWS_REGION: not set',
    ]);
  });
});

describe('the CDK app names the stages there are', () => {
  const stages = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, Record<string, unknown>> }).context[
    'submission-relay:stages'
  ]!;
  const synth = (context: Record<string, unknown>) =>
    runEntry('bin/relay-app.ts', { CDK_CONTEXT_JSON: JSON.stringify({ 'submission-relay:stages': stages, ...context }), CDK_OUTDIR: tmpdir() });

  test('an unknown stage', async () => {
    assertFailedWith(await synth({ stage: 'staging' }), [
      `cdk app: unknown stage "staging"; cdk.json defines: ${Object.keys(stages).join(', ')} (pick one with -c stage=NAME)`,
    ]);
  });

  test('a bad stage setting', async () => {
    const dev = { ...stages.dev!, desiredCount: 0 };
    assertFailedWith(await synth({ stage: 'dev', 'submission-relay:stages': { ...stages, dev } }), [
      'cdk app: stage "dev", desiredCount: Too small: expected number to be >=1',
    ]);
  });
});
