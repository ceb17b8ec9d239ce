/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof) and summarises where the time
 * went: the top functions by self time, and self time by module (our relay
 * code, smtp-server, the AWS SDK, pino, node internals, ...).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly topFunctions: ReadonlyArray<{ readonly name: string; readonly where: string; readonly selfMs: number; readonly share: number }>;
  readonly byModule: ReadonlyArray<{ readonly module: string; readonly selfMs: number; readonly share: number }>;
  /** Inclusive time of chosen frames (functions of ours and the big library entry points). */
  readonly inclusive: ReadonlyArray<{ readonly name: string; readonly where: string; readonly totalMs: number; readonly share: number }>;
}

export function moduleOf(url: string): string {
  if (!url) return '(native/VM)';
  if (url.startsWith('node:')) return 'node internals';
  const nodeModules = url.lastIndexOf('node_modules/');
  if (nodeModules >= 0) {
    const rest = url.slice(nodeModules + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const match = /\/(relay|lambda|lib|test)\/(.*)$/.exec(url);
  return match ? `${match[1]}/${match[2]}` : path.basename(url);
}

function where(frame: ProfileNode['callFrame']): string {
  const module = moduleOf(frame.url);
  return frame.url ? `${module}:${frame.lineNumber + 1}` : module;
}

export async function summariseProfile(file: string, top = 20): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = profile.endTime - profile.startTime;
  let idleUs = 0;
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const modules = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)' || frame.functionName === '(program)' || frame.functionName === '(garbage collector)') {
      if (frame.functionName === '(idle)') {
        idleUs += us;
        continue;
      }
    }
    const name = frame.functionName || '(anonymous)';
    const key = `${name}@${where(frame)}`;
    const entry = functions.get(key) ?? { name, where: where(frame), us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const module = frame.functionName === '(garbage collector)' ? '(garbage collector)' : frame.functionName === '(program)' ? '(program)' : moduleOf(frame.url);
    modules.set(module, (modules.get(module) ?? 0) + us);
  }

  // Inclusive time: sum of self time in each node's subtree, counted once per
  // function along a path (recursion is not double counted).
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, { name: string; where: string; us: number }>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const frame = byId.get(current)!.callFrame;
      const module = moduleOf(frame.url);
      if (!/^(relay|lambda)\//.test(module) && !['smtp-server', '@aws-sdk/core', '@smithy/core', 'pino', 'nodemailer'].includes(module)) continue;
      const key = `${frame.functionName || '(anonymous)'}@${where(frame)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = inclusive.get(key) ?? { name: frame.functionName || '(anonymous)', where: where(frame), us: 0 };
      entry.us += us;
      inclusive.set(key, entry);
    }
  }
  const busyUs = totalUs - idleUs;
  const ms = (us: number) => us / 1000;
  return {
    totalMs: ms(totalUs),
    idleMs: ms(idleUs),
    topFunctions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((entry) => ({ name: entry.name, where: entry.where, selfMs: ms(entry.us), share: entry.us / busyUs })),
    byModule: [...modules.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([module, us]) => ({ module, selfMs: ms(us), share: us / busyUs })),
    inclusive: [...inclusive.values()]
      .filter((entry) => /^(relay|lambda)\//.test(entry.where))
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((entry) => ({ name: entry.name, where: entry.where, totalMs: ms(entry.us), share: entry.us / busyUs })),
  };
}

export function formatProfile(summary: ProfileSummary, title: string): string {
  const pct = (share: number) => `${(share * 100).toFixed(1)}%`;
  const lines = [
    `#### ${title}`,
    '',
    `Profile ${(summary.totalMs / 1000).toFixed(1)} s, busy ${((summary.totalMs - summary.idleMs) / 1000).toFixed(1)} s (shares are of busy time).`,
    '',
    '| self ms | share | function | where |',
    '|---:|---:|---|---|',
    ...summary.topFunctions.map((f) => `| ${f.selfMs.toFixed(0)} | ${pct(f.share)} | \`${f.name}\` | ${f.where} |`),
    '',
    '| module | self ms | share |',
    '|---|---:|---:|',
    ...summary.byModule.slice(0, 15).map((m) => `| ${m.module} | ${m.selfMs.toFixed(0)} | ${pct(m.share)} |`),
    '',
    '| our function (inclusive) | ms | share |',
    '|---|---:|---:|',
    ...summary.inclusive.slice(0, 15).map((f) => `| \`${f.name}\` ${f.where} | ${f.totalMs.toFixed(0)} | ${pct(f.share)} |`),
    '',
  ];
  return lines.join('\n');
}

// `tsx test/bench/profile-summary.ts <file.cpuprofile>` prints the summary.
if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile>');
  process.stdout.write(formatProfile(await summariseProfile(file, Number(process.argv[3] ?? 25)), path.basename(file)));
}
