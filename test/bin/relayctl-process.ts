import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import type { UserStore } from '../../lambda/user-store.ts';
import { openLocalStore } from '../../bin/relayctl/store-connection.ts';

export const RELAYCTL = fileURLToPath(new URL('../../bin/relayctl.js', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Settings a developer's shell may hold that would point relayctl somewhere
 * else than the test means; every run starts without them.
 */
const INHERITED_SETTINGS = /^(RELAY_|AWS_|LOCAL_|SUBMISSIONS?_PORT$|TLS_(CERT|KEY)_|POLICY_CACHE_SECONDS$)/;
// Generous: a hung run is what this catches, and a busy 2-core machine starts Node slowly.
const CLI_TIMEOUT_MS = 120_000;

/** Runs the real CLI (`node bin/relayctl.js ...`) as a child process, as an operator would. */
export function relayctl(
  args: readonly string[],
  options: { readonly dataDir?: string; readonly env?: Readonly<Record<string, string>>; readonly stdin?: string } = {},
): Promise<CliRun> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !INHERITED_SETTINGS.test(name)));
  const child = spawn(process.execPath, [RELAYCTL, ...args], {
    env: { ...env, ...(options.dataDir ? { RELAY_DATA_DIR: options.dataDir } : {}), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // A command that never reads stdin may exit before this is written: that is no failure.
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.stdin ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The run's stdout as JSON, after checking it succeeded. */
export function jsonOf<T>(run: CliRun): T {
  if (run.code !== 0) throw new Error(`relayctl exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/**
 * A fresh data dir, removed after the test, holding an empty store (as
 * `relayctl init` leaves it) unless `withStore` is false.
 */
export async function tempDataDir(t: TestContext, prefix = 'relayctl-test-', options: { readonly withStore?: boolean } = {}): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  if (options.withStore ?? true) await (await openLocalStore(dir, { create: true })).close();
  return dir;
}

/**
 * Reads or seeds the local store of `dataDir` from the test itself, taking
 * the same turn-taking lock relayctl takes, so it never races a CLI run.
 */
export async function withLocalStore<T>(dataDir: string, work: (store: UserStore) => Promise<T>): Promise<T> {
  const connection = await openLocalStore(dataDir, { create: true });
  try {
    return await work(connection.store);
  } finally {
    await connection.close();
  }
}
