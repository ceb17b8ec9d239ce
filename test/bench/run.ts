/**
 * `npm run bench`: the relay against a bare smtp-server on this machine, in one
 * run, and the relay against its performance targets (docs/performance.md).
 *
 * Processes (each server in a child of its own, so that its CPU seconds and
 * peak RSS are its own):
 * - `relay-process.ts`: the relay's local stack, policy called directly;
 * - `aws-standins.ts`: dynalite and the SES v2 stand-in (messages in memory
 *   only), which in AWS are not on the relay's machine;
 * - `bare-server.ts` twice: stock smtp-server (its fixed 100 ms greeting
 *   delay kept) and the same with the delay removed the way the relay's
 *   SubmissionServer removes it;
 * - `idle-clients.ts`, for the idle-connection figures;
 * - this process: the load generator (nodemailer) and the report.
 *
 * Every server child is pinned to CPU 1 and everything else to CPU 0 (where
 * `taskset` and two CPUs exist), so each server has one core to itself and the
 * figures do not depend on how the scheduler mixes four busy processes on two
 * cores. Children run under `ulimit -n 20000`.
 *
 * Flags: `--profile` profiles the relay (V8 CPU profiler, what --cpu-prof
 * runs) during fresh-connection rows instead of running the table, and writes
 * the profiles and their summary to test/bench/profiles/ (not committed);
 * `--quick` runs a tenth of the messages (smoke test). Environment:
 * BENCH_NO_PIN=1 leaves CPU placement to the scheduler; BENCH_LOG_DIR=<dir>
 * keeps each child's stdout (the relay's log) there instead of /dev/null.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startBenchChild, PROJECT_ROOT, OPEN_FILES, type BenchChild } from './child-process.ts';
import type { ProcessUsage } from './bench-child.ts';
import { buildMessage, drive, type ConnectionMode, type LoadResult } from './load.ts';
import { formatProfile, summariseProfile } from './profile-summary.ts';
import { fixed, markdownTable, percentile, sig } from './stats.ts';

const QUICK = process.argv.includes('--quick');
const PROFILE = process.argv.includes('--profile');
const KB = 1024;
const MB = 1024 * 1024;

const LOGIN = 'bench@example.org';
const PASSWORD = 'a benchmark passphrase';
/** Sent as an address of a domain granted to the user: the usual shape of transactional mail. */
const FROM = 'noreply@bench.example.org';
const TO = 'someone@example.net';

const SIZES = [
  { label: '10 KB', bytes: 10 * KB },
  { label: '1 MB', bytes: MB },
] as const;
const CONCURRENCY = [1, 8, 32] as const;
const MODES: readonly ConnectionMode[] = ['fresh', 'pooled'];

/** Messages per row, by size, mode and concurrency: each row runs a few seconds. */
const COUNTS: Record<string, Record<ConnectionMode, Record<number, number>>> = {
  '10 KB': { fresh: { 1: 150, 8: 600, 32: 900 }, pooled: { 1: 300, 8: 1200, 32: 1800 } },
  '1 MB': { fresh: { 1: 60, 8: 180, 32: 300 }, pooled: { 1: 90, 8: 240, 32: 360 } },
};
/**
 * Each row runs in this many rounds, each round driving every server in turn
 * with its share of the messages, so that a burst of other work on the machine
 * falls on all servers alike rather than on one.
 */
const ROUNDS = 3;
/** Stock smtp-server spends at least 100 ms on each fresh connection: ~3 s of it is plenty. */
const STOCK_FRESH_SECONDS = 3;

const IDLE_MEMORY_SESSIONS = 1_000;
const IDLE_HELD_SESSIONS = 5_000;
const BIG_MESSAGE_BYTES = 25 * MB;

type ServerName = 'bare-stock' | 'bare' | 'relay';

interface RowResult {
  readonly size: string;
  readonly mode: ConnectionMode;
  readonly concurrency: number;
  readonly server: ServerName;
  readonly messages: number;
  readonly load: LoadResult;
  readonly perSecond: number;
  readonly cpuMsPerMessage: number;
  readonly peakRssBytes: number;
  readonly rssGrowthPerInFlight: number;
  readonly policyCallsPerMessage?: number;
  readonly dynamoReadsPerMessage?: number;
  /** The sending quota's UpdateItem calls, per message. */
  readonly quotaWritesPerMessage?: number;
  /** Time DynamoDB (dynalite) spent on the row's requests, per message. */
  readonly dynamoMsPerMessage?: number;
  /** Relay rows: per message, client latency less SES's own handling time. */
  readonly latencyLessSesMs?: number[];
  readonly sesMs?: number[];
  readonly standinCpuMsPerMessage?: number;
}

interface RelayCounters {
  readonly authenticate: number;
  readonly authorizeSender: number;
}
interface StandinCounters {
  readonly dynamo: { readonly reads: number; readonly writes: number; readonly quotaWrites: number; readonly ms: number };
}

const scale = (n: number) => (QUICK ? Math.max(4, Math.ceil(n / 10)) : n);

async function main(): Promise<void> {
  const started = performance.now();
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const unpinned = describeMachine(false);
  const pinned = pinProcesses();
  const machine = { ...unpinned, pinned };
  say(`bench: ${machine.cpuModel}, ${machine.cpus} CPUs, Node ${process.version}${pinned ? ', servers pinned to CPU 1' : ''}`);

  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'relay-bench-'));
  const children: BenchChild[] = [];
  const serverCpus = pinned ? { cpus: '1' } : {};
  try {
    const standins = await startBenchChild('aws-standins.ts', pinned ? { cpus: '0' } : {});
    children.push(standins);
    const startRelayChild = (env: NodeJS.ProcessEnv = {}) =>
      startBenchChild('relay-process.ts', {
        ...serverCpus,
        args: [dataDir, String(standins.info.sesEndpoint), String(standins.info.dynamoEndpoint)],
        env: {
          // All the load comes from one loopback address.
          MAX_CONNECTIONS_PER_CLIENT: String(IDLE_HELD_SESSIONS * 2),
          // Counted as in production, never reached.
          DEFAULT_MESSAGES_PER_MINUTE: '1000000000',
          DEFAULT_RECIPIENTS_PER_DAY: '1000000000',
          LOG_LEVEL: 'info',
          ...env,
        },
      });
    const relay = await startRelayChild();
    children.push(relay);
    const certPath = String(relay.info.certPath);
    const keyPath = path.join(path.dirname(certPath), 'key.pem');
    const maxBytes = String(relay.info.maxMessageBytes);
    const startBareChild = (mode: 'stock' | 'no-delay') => startBenchChild('bare-server.ts', { ...serverCpus, args: [certPath, keyPath, maxBytes, mode] });
    const bareStock = await startBareChild('stock');
    children.push(bareStock);
    const bare = await startBareChild('no-delay');
    children.push(bare);
    const servers: Record<ServerName, BenchChild> = { 'bare-stock': bareStock, bare, relay };
    await relay.request('add-user', { login: LOGIN, password: PASSWORD, grants: ['@bench.example.org'] });
    const ca = await readFile(certPath);
    const messages = Object.fromEntries(SIZES.map((size) => [size.label, buildMessage(size.bytes, FROM, TO)]));

    const run = (server: ServerName, mode: ConnectionMode, concurrency: number, count: number, raw: Buffer, beforeClock?: () => Promise<void>) =>
      drive({ port: Number(servers[server].info.submissionPort), ca, mode, concurrency, messages: count, raw, login: LOGIN, password: PASSWORD, from: FROM, to: TO }, beforeClock);

    // Warm-up: JIT, TLS and the relay's permit cache, the same for every server.
    say('warm-up');
    for (const server of ['bare', 'bare-stock', 'relay'] as const) {
      await run(server, 'fresh', 8, scale(server === 'bare-stock' ? 200 : 800), messages['10 KB']!);
      await run(server, 'pooled', 8, scale(1500), messages['10 KB']!);
      await run(server, 'fresh', 8, scale(60), messages['1 MB']!);
    }

    if (PROFILE) {
      await profileRelay(relay, standins, run, messages);
      return;
    }

    const rows: RowResult[] = [];
    say(`rows (${fixed((performance.now() - started) / 1000, 0)} s)`);
    for (const size of SIZES) {
      for (const mode of MODES) {
        for (const concurrency of CONCURRENCY) {
          const count = scale(COUNTS[size.label]![mode][concurrency]!);
          const rounds: Record<ServerName, Array<Omit<RowResult, 'size' | 'mode' | 'concurrency' | 'server' | 'messages'>>> = { 'bare-stock': [], bare: [], relay: [] };
          const counts = {} as Record<ServerName, number>;
          for (let round = 0; round < ROUNDS; round++) {
            for (const server of ['bare-stock', 'bare', 'relay'] as const) {
              const n = server === 'bare-stock' && mode === 'fresh' ? Math.min(count, Math.ceil((STOCK_FRESH_SECONDS * concurrency) / 0.11)) : count;
              counts[server] = n;
              const share = Math.max(concurrency, Math.round(n / ROUNDS));
              rounds[server].push(await measureRow(servers[server], server === 'relay' ? standins : undefined, (beforeClock) => run(server, mode, concurrency, share, messages[size.label]!, beforeClock)));
            }
          }
          for (const server of ['bare-stock', 'bare', 'relay'] as const) {
            const row = mergeRounds(rounds[server]);
            rows.push({ size: size.label, mode, concurrency, server, messages: row.load.latenciesMs.length + row.load.errors.length, ...row });
            say(
              `${mode.padEnd(6)} ${size.label.padStart(5)} c=${String(concurrency).padEnd(2)} ${server.padEnd(10)} ` +
                `${fixed(row.perSecond, 0).padStart(5)} msg/s  p50 ${fixed(percentile(row.load.latenciesMs, 0.5))} ms  p99 ${fixed(percentile(row.load.latenciesMs, 0.99))} ms  ` +
                `CPU ${fixed(row.cpuMsPerMessage, 2)} ms/msg${row.load.errors.length ? `  ERRORS ${row.load.errors.length}: ${row.load.errors[0]}` : ''}`,
            );
          }
        }
      }
    }

    say(`idle connections (${fixed((performance.now() - started) / 1000, 0)} s)`);
    const idle = await measureIdleConnections({ relay: startRelayChild, bare: () => startBareChild('no-delay') }, ca, certPath, pinned);
    say(`  relay ${fixed(idle.relayBytesPerSession / KB, 1)} KB/session, bare ${fixed(idle.bareBytesPerSession / KB, 1)} KB/session; held ${idle.held.ok}/${IDLE_HELD_SESSIONS}`);

    say(`25 MB message (${fixed((performance.now() - started) / 1000, 0)} s)`);
    const big = await measureBigMessage({ relay: startRelayChild, bare: () => startBareChild('no-delay') }, ca);
    say(`  relay peak growth ${fixed(big.relay.growth / MB, 1)} MB (${fixed(big.relay.growth / BIG_MESSAGE_BYTES, 2)}x), bare ${fixed(big.bare.growth / MB, 1)} MB`);

    say(`permit cache off (${fixed((performance.now() - started) / 1000, 0)} s)`);
    const uncached = await measureWithoutCache(() => startRelayChild({ POLICY_CACHE_SECONDS: '0' }), standins, ca, messages['10 KB']!);

    const report = buildReport({ machine, rows, idle, big, uncached, seconds: (performance.now() - started) / 1000, cacheSeconds: Number(relay.info.policyCacheSeconds) });
    process.stdout.write(`\n${report.console}\n`);
    if (!QUICK) {
      await writeFile(path.join(PROJECT_ROOT, 'test/bench/results.md'), report.markdown);
      say('wrote test/bench/results.md');
    }
  } finally {
    for (const child of children.reverse()) await child.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    say(`done in ${fixed((performance.now() - started) / 1000, 0)} s`);
  }
}

async function measureRow(
  server: BenchChild,
  standins: BenchChild | undefined,
  load: (beforeClock: () => Promise<void>) => Promise<LoadResult>,
): Promise<Omit<RowResult, 'size' | 'mode' | 'concurrency' | 'server' | 'messages'>> {
  let before!: ProcessUsage;
  let policyBefore: RelayCounters | undefined;
  let standinBefore: StandinCounters | undefined;
  let standinUsageBefore: ProcessUsage | undefined;
  // Snapshots taken when the clock starts: a pool's opening messages are not the row's.
  const result = await load(async () => {
    if (standins) await standins.request('ses-times'); // forget earlier calls
    await server.request('reset-peak');
    before = await server.request<ProcessUsage>('usage');
    policyBefore = standins ? await server.request<RelayCounters>('counters') : undefined;
    standinBefore = standins ? await standins.request<StandinCounters>('counters') : undefined;
    standinUsageBefore = standins ? await standins.request<ProcessUsage>('usage') : undefined;
  });
  const after = await server.request<ProcessUsage>('usage');
  const n = result.latenciesMs.length || 1;
  const row = {
    load: result,
    perSecond: (result.latenciesMs.length / result.elapsedMs) * 1000,
    cpuMsPerMessage: ((after.cpuSeconds - before.cpuSeconds) * 1000) / n,
    peakRssBytes: after.peakRssBytes,
    rssGrowthPerInFlight: 0,
  };
  const concurrency = Math.max(1, Math.min(n, inFlight(result)));
  row.rssGrowthPerInFlight = Math.max(0, after.peakRssBytes - before.rssBytes) / concurrency;
  if (!standins || !policyBefore || !standinBefore || !standinUsageBefore) return row;

  const policyAfter = await server.request<RelayCounters>('counters');
  const standinAfter = await standins.request<StandinCounters>('counters');
  const standinUsageAfter = await standins.request<ProcessUsage>('usage');
  const sesTimes = new Map(await standins.request<Array<[string, number]>>('ses-times'));
  const latencyLessSesMs: number[] = [];
  const sesMs: number[] = [];
  result.queuedIds.forEach((id, i) => {
    const ses = id ? sesTimes.get(id) : undefined;
    if (ses === undefined) return;
    sesMs.push(ses);
    latencyLessSesMs.push(result.latenciesMs[i]! - ses);
  });
  const policyCalls = policyAfter.authenticate + policyAfter.authorizeSender - policyBefore.authenticate - policyBefore.authorizeSender;
  return {
    ...row,
    policyCallsPerMessage: policyCalls / n,
    dynamoReadsPerMessage: (standinAfter.dynamo.reads - standinBefore.dynamo.reads) / n,
    quotaWritesPerMessage: (standinAfter.dynamo.quotaWrites - standinBefore.dynamo.quotaWrites) / n,
    dynamoMsPerMessage: (standinAfter.dynamo.ms - standinBefore.dynamo.ms) / n,
    latencyLessSesMs,
    sesMs,
    standinCpuMsPerMessage: ((standinUsageAfter.cpuSeconds - standinUsageBefore.cpuSeconds) * 1000) / n,
  };
}

type RoundResult = Omit<RowResult, 'size' | 'mode' | 'concurrency' | 'server' | 'messages'>;

/** One row from its rounds: rates over the summed time, per-message figures weighted by messages. */
function mergeRounds(rounds: readonly RoundResult[]): RoundResult {
  const messages = rounds.map((round) => round.load.latenciesMs.length);
  const total = messages.reduce((sum, n) => sum + n, 0) || 1;
  const weighted = (pick: (round: RoundResult) => number | undefined) =>
    rounds.some((round) => pick(round) === undefined) ? undefined : rounds.reduce((sum, round, i) => sum + pick(round)! * messages[i]!, 0) / total;
  const load: LoadResult = {
    latenciesMs: rounds.flatMap((round) => round.load.latenciesMs),
    queuedIds: rounds.flatMap((round) => round.load.queuedIds),
    elapsedMs: rounds.reduce((sum, round) => sum + round.load.elapsedMs, 0),
    errors: rounds.flatMap((round) => round.load.errors),
  };
  const optional = (name: 'policyCallsPerMessage' | 'dynamoReadsPerMessage' | 'quotaWritesPerMessage' | 'dynamoMsPerMessage' | 'standinCpuMsPerMessage') => {
    const value = weighted((round) => round[name]);
    return value === undefined ? {} : { [name]: value };
  };
  const lessSes = rounds.flatMap((round) => round.latencyLessSesMs ?? []);
  const ses = rounds.flatMap((round) => round.sesMs ?? []);
  return {
    load,
    perSecond: (load.latenciesMs.length / load.elapsedMs) * 1000,
    cpuMsPerMessage: weighted((round) => round.cpuMsPerMessage)!,
    peakRssBytes: Math.max(...rounds.map((round) => round.peakRssBytes)),
    rssGrowthPerInFlight: Math.max(...rounds.map((round) => round.rssGrowthPerInFlight)),
    ...optional('policyCallsPerMessage'),
    ...optional('dynamoReadsPerMessage'),
    ...optional('quotaWritesPerMessage'),
    ...optional('dynamoMsPerMessage'),
    ...optional('standinCpuMsPerMessage'),
    ...(rounds[0]?.sesMs ? { sesMs: ses, latencyLessSesMs: lessSes } : {}),
  };
}

/** Messages in flight at once: the row's concurrency, recovered from the load. */
function inFlight(result: LoadResult): number {
  const total = result.latenciesMs.reduce((sum, ms) => sum + ms, 0);
  return Math.round(total / result.elapsedMs) || 1;
}

interface IdleResult {
  readonly relayBytesPerSession: number;
  readonly bareBytesPerSession: number;
  readonly held: { readonly ok: number; readonly of: number; readonly dropped: number; readonly serverCount: number; readonly failed: number; readonly firstFailure?: string; readonly openSeconds: number };
  readonly relayBytesPerSessionAt5000: number;
}

/**
 * Against fresh server processes, each warmed by one message: one that has
 * handled 1 MB messages keeps freed pages resident and would place new
 * sessions in them without growing.
 */
async function measureIdleConnections(
  start: { relay: () => Promise<BenchChild>; bare: () => Promise<BenchChild> },
  ca: Buffer,
  certPath: string,
  pinned: boolean,
): Promise<IdleResult> {
  const clientCpus = pinned ? { cpus: '0' } : {};
  const open = (clients: BenchChild, count: number) =>
    clients.request<{ open: number; failed: number; firstFailure?: string; ms: number }>('open', { count, parallel: 50 });
  const warmed = async (server: 'relay' | 'bare') => {
    const child = await start[server]();
    await drive({ port: Number(child.info.submissionPort), ca, mode: 'fresh', concurrency: 1, messages: 1, raw: buildMessage(10 * KB, FROM, TO), login: LOGIN, password: PASSWORD, from: FROM, to: TO });
    const clients = await startBenchChild('idle-clients.ts', { ...clientCpus, args: [String(child.info.submissionPort), certPath] });
    return { child, clients };
  };
  const perSession = async (server: BenchChild, clients: BenchChild, count: number) => {
    const before = await server.request<ProcessUsage>('gc');
    const opened = await open(clients, count);
    const after = await server.request<ProcessUsage>('gc');
    return { bytes: (after.rssBytes - before.rssBytes) / Math.max(1, opened.open), opened, before };
  };

  const bare = await warmed('bare');
  const bareIdle = await perSession(bare.child, bare.clients, scale(IDLE_MEMORY_SESSIONS));
  await bare.clients.stop();
  await bare.child.stop();

  const relay = await warmed('relay');
  try {
    const relayIdle = await perSession(relay.child, relay.clients, scale(IDLE_MEMORY_SESSIONS));
    const rest = await open(relay.clients, scale(IDLE_HELD_SESSIONS) - scale(IDLE_MEMORY_SESSIONS));
    const full = await relay.child.request<ProcessUsage>('gc');
    const serverCount = await relay.child.request<number>('connections');
    const noop = await relay.clients.request<{ ok: number; of: number; dropped: number }>('noop');
    return {
      relayBytesPerSession: relayIdle.bytes,
      bareBytesPerSession: bareIdle.bytes,
      relayBytesPerSessionAt5000: (full.rssBytes - relayIdle.before.rssBytes) / Math.max(1, noop.of),
      held: { ...noop, serverCount, failed: relayIdle.opened.failed + rest.failed, ...(rest.firstFailure ? { firstFailure: rest.firstFailure } : {}), openSeconds: (relayIdle.opened.ms + rest.ms) / 1000 },
    };
  } finally {
    await relay.clients.stop();
    await relay.child.stop();
  }
}

interface BigResult {
  readonly relay: { readonly growth: number; readonly ms: number; readonly error?: string };
  readonly bare: { readonly growth: number; readonly ms: number; readonly error?: string };
}

/**
 * In a fresh server process each: a process that has already handled large
 * messages keeps the freed pages resident and would show little growth.
 */
async function measureBigMessage(start: { relay: () => Promise<BenchChild>; bare: () => Promise<BenchChild> }, ca: Buffer): Promise<BigResult> {
  const raw = buildMessage(BIG_MESSAGE_BYTES, FROM, TO);
  const small = buildMessage(10 * KB, FROM, TO);
  const once = async (server: 'relay' | 'bare') => {
    const child = await start[server]();
    try {
      const send = (message: Buffer) =>
        drive({ port: Number(child.info.submissionPort), ca, mode: 'fresh', concurrency: 1, messages: 1, raw: message, login: LOGIN, password: PASSWORD, from: FROM, to: TO });
      await send(small); // the code paths loaded, the permit cached
      const before = await child.request<ProcessUsage>('gc');
      await child.request('reset-peak');
      const result = await send(raw);
      const after = await child.request<ProcessUsage>('usage');
      return { growth: after.peakRssBytes - before.rssBytes, ms: result.latenciesMs[0] ?? 0, ...(result.errors[0] ? { error: result.errors[0] } : {}) };
    } finally {
      await child.stop();
    }
  };
  return { relay: await once('relay'), bare: await once('bare') };
}

const UNCACHED_MESSAGES = 150;

/** The fresh 10 KB c=8 row once more, against a relay whose permit cache is off: what the cache saves. */
async function measureWithoutCache(start: () => Promise<BenchChild>, standins: BenchChild, ca: Buffer, raw: Buffer): Promise<RowResult> {
  const relay = await start();
  try {
    const send = (count: number, beforeClock?: () => Promise<void>) =>
      drive({ port: Number(relay.info.submissionPort), ca, mode: 'fresh', concurrency: 8, messages: count, raw, login: LOGIN, password: PASSWORD, from: FROM, to: TO }, beforeClock);
    await send(scale(100));
    const row = await measureRow(relay, standins, (beforeClock) => send(scale(UNCACHED_MESSAGES), beforeClock));
    return { size: '10 KB', mode: 'fresh', concurrency: 8, server: 'relay', messages: row.load.latenciesMs.length, ...row };
  } finally {
    await relay.stop();
  }
}

async function profileRelay(
  relay: BenchChild,
  standins: BenchChild,
  run: (server: ServerName, mode: ConnectionMode, concurrency: number, count: number, raw: Buffer, beforeClock?: () => Promise<void>) => Promise<LoadResult>,
  messages: Record<string, Buffer>,
): Promise<void> {
  const dir = path.join(PROJECT_ROOT, 'test/bench/profiles');
  await mkdir(dir, { recursive: true });
  const sections: string[] = [];
  for (const [size, count] of [['10 KB', scale(1500)], ['1 MB', scale(200)]] as const) {
    const file = path.join(dir, `relay-fresh-${size.replace(' ', '')}.cpuprofile`);
    await relay.request('profile-start');
    const row = await measureRow(relay, standins, (beforeClock) => run('relay', 'fresh', 8, count, messages[size]!, beforeClock));
    await relay.request('profile-stop', { file });
    const title = `relay, fresh connection per message, ${size}, concurrency 8, ${count} messages: ${fixed(row.perSecond, 0)} msg/s, ${fixed(row.cpuMsPerMessage, 2)} ms CPU/msg (profiler on)`;
    sections.push(formatProfile(await summariseProfile(file, 25), title));
    say(`profiled ${size}: ${path.relative(PROJECT_ROOT, file)}`);
  }
  const text = [`# Relay CPU profile (${new Date().toISOString().slice(0, 10)})`, '', 'Written by `npm run bench -- --profile`; see docs/performance.md.', '', ...sections].join('\n');
  await writeFile(path.join(dir, 'summary.md'), text);
  process.stdout.write(`\n${text}\n`);
}

interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly node: string;
  readonly kernel: string;
  readonly pinned: boolean;
  /** 1-minute load average when the run started: other work on the machine shows here. */
  readonly loadAverage: number;
}

function describeMachine(pinned: boolean): Machine {
  const cpuinfo = readText('/proc/cpuinfo');
  return {
    cpus: os.availableParallelism(),
    loadAverage: os.loadavg()[0] ?? 0,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    kernel: os.release(),
    pinned,
  };
}

function readText(file: string): string {
  try {
    return execFileSync('cat', [file], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

/** The load generator (this process) and its helpers go to CPU 0; servers get CPU 1. */
function pinProcesses(): boolean {
  if (os.availableParallelism() < 2 || process.env.BENCH_NO_PIN) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface ReportInput {
  readonly machine: Machine;
  readonly rows: readonly RowResult[];
  readonly idle: IdleResult;
  readonly big: BigResult;
  readonly uncached: RowResult;
  readonly seconds: number;
  readonly cacheSeconds: number;
}

function buildReport(input: ReportInput): { markdown: string; console: string } {
  const { machine, rows, idle, big, uncached } = input;
  const find = (row: RowResult, server: ServerName) =>
    rows.find((r) => r.size === row.size && r.mode === row.mode && r.concurrency === row.concurrency && r.server === server);

  const mainTable = markdownTable(
    ['connection', 'size', 'c', 'server', 'messages', 'msg/s', 'p50 ms', 'p95 ms', 'p99 ms', 'CPU ms/msg', 'peak RSS MB', 'peak RSS KB/in-flight msg', 'relay/bare', 'relay/stock', 'CPU relay/bare', 'policy calls/msg', 'DDB reads/msg', 'quota writes/msg', 'errors'],
    rows.map((row) => {
      const bare = find(row, 'bare');
      const stock = find(row, 'bare-stock');
      const isRelay = row.server === 'relay';
      return [
        row.mode,
        row.size,
        String(row.concurrency),
        row.server,
        String(row.messages),
        fixed(row.perSecond, row.perSecond < 10 ? 1 : 0),
        fixed(percentile(row.load.latenciesMs, 0.5)),
        fixed(percentile(row.load.latenciesMs, 0.95)),
        fixed(percentile(row.load.latenciesMs, 0.99)),
        fixed(row.cpuMsPerMessage, 2),
        fixed(row.peakRssBytes / MB, 0),
        fixed(row.rssGrowthPerInFlight / KB, 0),
        isRelay && bare ? `**${fixed(row.perSecond / bare.perSecond, 2)}**` : '',
        isRelay && stock ? fixed(row.perSecond / stock.perSecond, 2) : '',
        isRelay && bare ? fixed(row.cpuMsPerMessage / bare.cpuMsPerMessage, 1) : '',
        isRelay ? sig(row.policyCallsPerMessage ?? Number.NaN) : '0',
        isRelay ? sig(row.dynamoReadsPerMessage ?? Number.NaN) : '0',
        isRelay ? sig(row.quotaWritesPerMessage ?? Number.NaN) : '0',
        String(row.load.errors.length),
      ];
    }),
    ['l', 'l', 'r', 'l'],
  );

  const relayRows = rows.filter((row) => row.server === 'relay');
  const latencyTable = markdownTable(
    ['connection', 'size', 'c', 'SES call p50 ms', 'SES call p99 ms', 'relay − SES p50 ms', 'relay − SES p99 ms', 'bare p50 ms', 'bare p99 ms', 'relay-added p50 ms', 'relay-added p99 ms', 'DynamoDB ms/msg', 'stand-ins CPU ms/msg'],
    relayRows.map((row) => {
      const bare = find(row, 'bare')!;
      const lessSes = row.latencyLessSesMs ?? [];
      return [
        row.mode,
        row.size,
        String(row.concurrency),
        fixed(percentile(row.sesMs ?? [], 0.5), 2),
        fixed(percentile(row.sesMs ?? [], 0.99), 2),
        fixed(percentile(lessSes, 0.5), 2),
        fixed(percentile(lessSes, 0.99), 2),
        fixed(percentile(bare.load.latenciesMs, 0.5), 2),
        fixed(percentile(bare.load.latenciesMs, 0.99), 2),
        fixed(relayAdded(row, bare, 0.5), 2),
        fixed(relayAdded(row, bare, 0.99), 2),
        fixed(row.dynamoMsPerMessage ?? Number.NaN, 2),
        fixed(row.standinCpuMsPerMessage ?? Number.NaN, 2),
      ];
    }),
    ['l', 'l'],
  );

  const cachedRow = find(uncached, 'relay')!;
  const uncachedTable = markdownTable(
    ['relay', 'msg/s', 'p50 ms', 'p99 ms', 'CPU ms/msg', 'policy calls/msg', 'DDB reads/msg', 'quota writes/msg'],
    [
      ['permit cache on (row above)', cachedRow],
      ['permit cache off', uncached],
    ].map(([label, row]) => {
      const r = row as RowResult;
      return [
        label as string,
        fixed(r.perSecond, 0),
        fixed(percentile(r.load.latenciesMs, 0.5)),
        fixed(percentile(r.load.latenciesMs, 0.99)),
        fixed(r.cpuMsPerMessage, 2),
        sig(r.policyCallsPerMessage ?? Number.NaN),
        sig(r.dynamoReadsPerMessage ?? Number.NaN),
        sig(r.quotaWritesPerMessage ?? Number.NaN),
      ];
    }),
    ['l'],
  );

  // Targets.
  const fresh = relayRows.filter((row) => row.mode === 'fresh');
  const throughputRatios = fresh.map((row) => ({ row, ratio: row.perSecond / find(row, 'bare')!.perSecond }));
  const worstRatio = throughputRatios.reduce((worst, entry) => (entry.ratio < worst.ratio ? entry : worst));
  const totalMessages = relayRows.reduce((sum, row) => sum + row.load.latenciesMs.length, 0);
  const totalPolicy = relayRows.reduce((sum, row) => sum + (row.policyCallsPerMessage ?? 0) * row.load.latenciesMs.length, 0);
  const worstPolicy = relayRows.reduce((worst, row) => Math.max(worst, row.policyCallsPerMessage ?? 0), 0);
  const totalQuotaWrites = relayRows.reduce((sum, row) => sum + (row.quotaWritesPerMessage ?? 0) * row.load.latenciesMs.length, 0);
  const worstQuotaWrites = relayRows.reduce((worst, row) => (row.quotaWritesPerMessage ?? 0) > (worst.quotaWritesPerMessage ?? 0) ? row : worst);
  const c1 = relayRows.filter((row) => row.concurrency === 1);
  const added = c1.map((row) => ({ row, p99: relayAdded(row, find(row, 'bare')!, 0.99) }));
  const worstAdded = added.reduce((worst, entry) => (entry.p99 > worst.p99 ? entry : worst));
  const rowName = (row: RowResult) => `${row.mode} ${row.size} c=${row.concurrency}`;
  const targets: Array<[string, boolean, string]> = [
    [
      'relay throughput ≥ 0.8 × bare smtp-server (delay removed) in every fresh-connection row',
      throughputRatios.every((entry) => entry.ratio >= 0.8),
      `lowest ${fixed(worstRatio.ratio, 2)} (${rowName(worstRatio.row)}); all: ${throughputRatios.map((entry) => `${entry.row.size} c=${entry.row.concurrency} ${fixed(entry.ratio, 2)}`).join(', ')}; against stock smtp-server: ${fresh.map((row) => fixed(row.perSecond / find(row, 'bare-stock')!.perSecond, 2)).join(', ')}`,
    ],
    [
      `≤ 0.1 policy calls per message when the same user sends again within a minute (permit cache, ${input.cacheSeconds} s)`,
      totalPolicy / totalMessages <= 0.1 && worstPolicy <= 0.1,
      `${sig(totalPolicy / totalMessages)} over ${totalMessages} messages (worst row ${sig(worstPolicy)})`,
    ],
    [
      '≤ 0.1 sending-quota writes (DynamoDB UpdateItem) per message, both limits counted (quota leases)',
      totalQuotaWrites / totalMessages <= 0.1,
      `${sig(totalQuotaWrites / totalMessages)} over ${totalMessages} messages (worst row ${sig(worstQuotaWrites.quotaWritesPerMessage ?? 0)}, ${rowName(worstQuotaWrites)}: a row that spans a new minute takes a new lease)`,
    ],
    [
      'relay-added latency p99 < 5 ms above the local SES call (concurrency 1 rows)',
      added.every((entry) => entry.p99 < 5),
      `worst ${fixed(worstAdded.p99, 2)} ms (${rowName(worstAdded.row)}); all: ${added.map((entry) => `${rowName(entry.row)} ${fixed(entry.p99, 2)}`).join(', ')}`,
    ],
    [
      'memory per idle TLS connection < 64 KB',
      idle.relayBytesPerSession < 64 * KB,
      `${fixed(idle.relayBytesPerSession / KB, 1)} KB (bare smtp-server ${fixed(idle.bareBytesPerSession / KB, 1)} KB; relay at ${IDLE_HELD_SESSIONS}: ${fixed(idle.relayBytesPerSessionAt5000 / KB, 1)} KB)`,
    ],
    [
      '25 MB message: peak memory growth < 3 × message size',
      !big.relay.error && big.relay.growth < 3 * BIG_MESSAGE_BYTES,
      `${fixed(big.relay.growth / MB, 1)} MB = ${fixed(big.relay.growth / BIG_MESSAGE_BYTES, 2)}× (bare smtp-server ${fixed(big.bare.growth / MB, 1)} MB; relayed in ${fixed(big.relay.ms, 0)} ms)${big.relay.error ? `; error: ${big.relay.error}` : ''}`,
    ],
    [
      `${IDLE_HELD_SESSIONS} concurrent idle connections held by one process without error`,
      idle.held.ok === scale(IDLE_HELD_SESSIONS) && idle.held.failed === 0 && idle.held.dropped === 0,
      `${idle.held.ok}/${scale(IDLE_HELD_SESSIONS)} answered NOOP after all were open (relay counted ${idle.held.serverCount}); ${idle.held.failed} failed to open, ${idle.held.dropped} dropped; opened in ${fixed(idle.held.openSeconds, 1)} s${idle.held.firstFailure ? `; first failure: ${idle.held.firstFailure}` : ''}`,
    ],
  ];
  const targetTable = markdownTable(
    ['target', 'result', 'figure'],
    targets.map(([name, met, figure]) => [name, met ? 'met' : '**missed**', figure]),
    ['l', 'l', 'l'],
  );

  const counts = SIZES.map(
    (size) =>
      `${size.label}: ${MODES.map((mode) => `${mode} ${CONCURRENCY.map((c) => `c=${c}: ${scale(COUNTS[size.label]![mode][c]!)}`).join(', ')}`).join('; ')}`,
  ).join('. ');
  const markdown = [
    '# Benchmark: relay against a bare smtp-server',
    '',
    `Written by \`npm run bench\` (${input.seconds.toFixed(0)} s) on ${new Date().toISOString().slice(0, 10)}. Machine: ${machine.cpus} CPUs (nproc), ${machine.cpuModel}, ${machine.memoryGb} GB, Linux ${machine.kernel}, Node ${machine.node}; load average ${machine.loadAverage.toFixed(1)} when the run started (other work on the machine). How to read it and what it means: docs/performance.md ([performance](../../docs/performance.md)).`,
    '',
    '## Targets',
    '',
    targetTable,
    '',
    '## Throughput, latency, CPU and memory',
    '',
    mainTable,
    '',
    '## Relay latency against the SES call',
    '',
    latencyTable,
    '',
    '## Without the permit cache',
    '',
    `The fresh 10 KB c=8 row against a relay started with \`POLICY_CACHE_SECONDS=0\`, ${uncached.messages} messages: every AUTH is a policy call with its scrypt verification (here in the relay process, as the local stack calls the policy directly; in AWS a Lambda invocation) and every MAIL FROM a sender lookup.`,
    '',
    uncachedTable,
    '',
    '## Method',
    '',
    `- Client: nodemailer over STARTTLS (TLS 1.3, P-256 certificate verified against the CA), AUTH PLAIN, one recipient, a prebuilt plain-text message (lines of 76 characters). \`fresh\`: a new connection with TLS and AUTH for every message (then QUIT); \`pooled\`: \`c\` connections opened before the clock starts and kept. \`c\` messages are in flight at once.`,
    `- Messages per row: ${counts}. Stock smtp-server's fresh rows send at most ${STOCK_FRESH_SECONDS} s worth of messages (every connection waits 100 ms), so ${CONCURRENCY.map((c) => `c=${c}: ${Math.ceil((STOCK_FRESH_SECONDS * c) / 0.11)}`).join(', ')} at most. A warm-up of every server precedes the rows.`,
    `- Servers, each in its own process${machine.pinned ? ', pinned to CPU 1 (the load generator and the AWS stand-ins share CPU 0)' : ''}, run under \`ulimit -n ${OPEN_FILES}\`: the relay's local stack (policy called in process, permit cache ${input.cacheSeconds} s, logging at info to /dev/null, sending quotas counted but never reached); bare smtp-server (any AUTH accepted, data discarded, same certificate and SIZE, \`disableReverseLookup\`, logger off), stock and with the 100 ms greeting delay removed as the relay's SubmissionServer does. DynamoDB (dynalite) and SES (the local stand-in, messages kept in memory only) run in a process of their own: in AWS they are not on the relay's machine, so their CPU and memory are not the relay's.`,
    '- CPU ms/msg: the server process\'s user+system CPU over the row divided by its messages. Peak RSS: VmHWM of the server process during the row (reset before it); per in-flight message: (peak − RSS at the start of the row) / c.',
    '- relay/bare: relay msg/s over bare smtp-server msg/s (greeting delay removed) in the same row; relay/stock: over stock smtp-server. CPU relay/bare: the relay\'s CPU per message over the bare server\'s, the figure least moved by other work on the machine.',
    '- Policy calls: requests that reached the policy beneath the relay\'s permit cache (in AWS, Lambda invocations). DynamoDB reads: requests reaching dynalite (GetItem/Query/Scan, among them the change feed\'s one Query per task per REVOCATION_POLL_MS whatever the traffic). Quota writes: UpdateItem calls reaching dynalite, the sending quota\'s leases (docs/design.md, quota leases).',
    '- SES call: time the SES stand-in spent on each SendEmail (request headers in to answer written), matched to the message by its id in the 250 reply. relay − SES: the client\'s latency less that. relay-added: percentile of (relay − SES) less the bare server\'s median latency in the same row — what the relay costs over the library and SES. DynamoDB ms/msg: time dynalite spent on the row\'s requests (the sending-quota counters), per message: part of relay-added.',
    `- Idle connections: against a server process started for it (after one message), ${IDLE_MEMORY_SESSIONS} sessions opened (connect, EHLO, STARTTLS, EHLO) from another process; RSS of the server after a full GC, before and after, divided by the sessions. Then up to ${IDLE_HELD_SESSIONS} sessions at once, each answering NOOP, and RSS per session over all of them.`,
    `- 25 MB message: sent once, on a fresh connection, to a server process started for it (after one 10 KB message); peak RSS growth of that process (VmHWM reset before) over its RSS after a full GC. A fresh process, because one that has handled large messages before keeps freed pages resident and shows less growth than the message needs.`,
    '',
  ].join('\n');

  return { markdown, console: ['## Targets', '', targetTable, '', mainTable, '', latencyTable, '', uncachedTable].join('\n') };
}

/**
 * What the relay adds over the library and SES: the percentile of (relay
 * latency − that message's SES call) less the bare server's median latency in
 * the same row (its TLS, SMTP and transfer: the library's own cost). The
 * median, because a tail of the bare server's is noise of the machine, not a
 * cost the relay pays.
 */
function relayAdded(row: RowResult, bare: RowResult, p: number): number {
  return percentile(row.latencyLessSesMs ?? [], p) - percentile(bare.load.latenciesMs, 0.5);
}

await main();
