/**
 * The control channel of a benchmark child process (relay, bare server, SES
 * stand-in, idle clients): requests arrive over the IPC channel as
 * `{ id, type, ...payload }` and are answered `{ id, ok, value | error }`.
 * Every child answers `usage` (CPU and memory), `reset-peak`, `gc` and `stop`;
 * each adds its own requests.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

export type Handler = (payload: Record<string, unknown>) => unknown;

export interface ProcessUsage {
  /** CPU seconds (user + system) since the process started. */
  readonly cpuSeconds: number;
  readonly userSeconds: number;
  readonly systemSeconds: number;
  readonly rssBytes: number;
  /** Peak RSS since start or since the last `reset-peak` (Linux VmHWM). */
  readonly peakRssBytes: number;
  readonly heapUsedBytes: number;
}

export function processUsage(): ProcessUsage {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    userSeconds: cpu.user / 1e6,
    systemSeconds: cpu.system / 1e6,
    rssBytes: memory.rss,
    peakRssBytes: peakRss() ?? memory.rss,
    heapUsedBytes: memory.heapUsed,
  };
}

/** VmHWM of /proc/self/status, in bytes. */
function peakRss(): number | undefined {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+), so a
 * peak can be measured per benchmark row without sampling.
 */
function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

let profiler: Session | undefined;

export function serveControl(handlers: Record<string, Handler>, onStop: () => Promise<void>): void {
  const all: Record<string, Handler> = {
    usage: () => processUsage(),
    'reset-peak': () => resetPeak(),
    gc: () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      return processUsage();
    },
    /**
     * The V8 CPU profiler (what `node --cpu-prof` runs), over a window the
     * bench chooses, so that start-up and other rows stay out of the profile.
     */
    'profile-start': async () => {
      profiler ??= new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
      await profiler.post('Profiler.start');
      return true;
    },
    'profile-stop': async (payload) => {
      if (!profiler) throw new Error('no profile running');
      const { profile } = await profiler.post('Profiler.stop');
      profiler.disconnect();
      writeFileSync(String(payload.file), JSON.stringify(profile));
      return payload.file;
    },
    stop: async () => {
      await onStop();
      // Answer first, then exit so that --cpu-prof writes its profile.
      setImmediate(() => process.exit(0));
      return true;
    },
    ...handlers,
  };
  process.on('message', (message: { id: number; type: string } & Record<string, unknown>) => {
    const handler = all[message.type];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown request ${message.type}`);
        return handler(message);
      })
      .then(
        (value) => process.send?.({ id: message.id, ok: true, value }),
        (error: unknown) => process.send?.({ id: message.id, ok: false, error: String((error as Error)?.stack ?? error) }),
      );
  });
  // The parent going away ends the child too.
  process.on('disconnect', () => process.exit(0));
}

export function announce(value: Record<string, unknown>): void {
  process.send?.({ id: 0, ok: true, value: { ready: true, ...value } });
}
