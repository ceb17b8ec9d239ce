import { spawn } from 'node:child_process';

export interface ClientRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunClientOptions {
  readonly cwd?: string;
  /** Added to the environment (which keeps PATH, with the sbin directories added for Postfix's commands). */
  readonly env?: Readonly<Record<string, string>>;
  /** Written to the client's stdin, which is then closed. */
  readonly input?: string;
  /** @default 20000 */
  readonly timeoutMs?: number;
}

/**
 * Runs a client program to its end, as a user would from a shell. A non-zero
 * exit resolves (the refusal tests want the status); only a client that does
 * not finish in time rejects, after its whole process group is killed, so a
 * hung client fails its test and leaves nothing behind.
 */
export function runClient(command: string, args: readonly string[], options: RunClientOptions = {}): Promise<ClientRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  // The test runner's own settings must not leak into a Node client we start.
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  env.PATH = [env.PATH ?? '/usr/bin:/bin', '/usr/sbin', '/sbin'].join(':');

  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on('error', () => {}); // a client may exit before reading its input
    child.stdin.end(options.input ?? '');
    const timeoutMs = options.timeoutMs ?? 20_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${command} (is it installed?): ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const result = { code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
      if (timedOut) {
        reject(new Error(`${command} did not finish in ${timeoutMs} ms\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`));
      } else {
        resolve(result);
      }
    });
  });
}

/** The output of a run, for an assertion message. */
export function describeRun(run: ClientRun): string {
  return `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
}
