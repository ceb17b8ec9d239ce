/**
 * Starts a benchmark child (a TypeScript file run by tsx under node) and talks
 * to it over IPC. Children run through `bash -c 'ulimit -n ...; exec node ...'`
 * so that they may hold thousands of sockets even where the login shell's
 * soft limit is 1024.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const OPEN_FILES = 20_000;

export interface BenchChild {
  readonly pid: number;
  readonly info: Record<string, unknown>;
  request<T = unknown>(type: string, payload?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

export async function startBenchChild(
  script: string,
  options: {
    args?: readonly string[];
    env?: NodeJS.ProcessEnv;
    cpuProfDir?: string;
    nodeOptions?: readonly string[];
    /** CPUs to pin the child to (`taskset -c` list), if any. */
    cpus?: string;
  } = {},
): Promise<BenchChild> {
  const node = [
    ...(options.cpus ? ['taskset', '-c', options.cpus] : []),
    process.execPath,
    '--expose-gc',
    '--disable-warning=NodeDeprecationWarning',
    ...(options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : []),
    ...(options.nodeOptions ?? []),
    '--import',
    'tsx',
    path.join(PROJECT_ROOT, 'test/bench', script),
    ...(options.args ?? []),
  ];
  const child: ChildProcess = spawn(
    'bash',
    ['-c', `ulimit -n ${OPEN_FILES} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`, 'bench-child', ...node],
    {
      cwd: PROJECT_ROOT,
      // A child's stdout (the relay's log) goes to /dev/null, as cheaply as to a log pipe,
      // unless BENCH_LOG_DIR asks to keep it.
      stdio: ['ignore', process.env.BENCH_LOG_DIR ? openSync(path.join(process.env.BENCH_LOG_DIR, `${path.basename(script, '.ts')}-${Date.now()}.log`), 'w') : 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, ...options.env },
    },
  );
  let nextId = 1;
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let exited = false;
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    waiting.set(0, { resolve: (value) => resolve(value as Record<string, unknown>), reject });
  });
  child.on('message', (message: { id: number; ok: boolean; value?: unknown; error?: string }) => {
    const waiter = waiting.get(message.id);
    if (!waiter) return;
    waiting.delete(message.id);
    if (message.ok) waiter.resolve(message.value);
    else waiter.reject(new Error(`${script}: ${message.error}`));
  });
  child.on('exit', (code, signal) => {
    exited = true;
    for (const waiter of waiting.values()) waiter.reject(new Error(`${script} exited (${code ?? signal})`));
    waiting.clear();
  });
  const info = await ready;
  return {
    pid: child.pid!,
    info,
    request<T>(type: string, payload: Record<string, unknown> = {}) {
      if (exited) return Promise.reject(new Error(`${script} has exited`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: (value) => resolve(value as T), reject });
        child.send({ ...payload, id, type });
      });
    },
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await Promise.race([
        (async () => {
          const id = nextId++;
          child.send({ id, type: 'stop' });
        })(),
      ]);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
