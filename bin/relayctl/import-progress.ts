import cliProgress from 'cli-progress';

export interface ImportProgress {
  /** One more entry done. */
  tick(): void;
  stop(): void;
}

/**
 * A progress bar for an import on stderr, only when a person watches it
 * there: piped or redirected, stderr gets no bar, and stdout (the report,
 * perhaps JSON for a script) never does.
 */
export function importProgress(total: number, stream: NodeJS.WriteStream = process.stderr): ImportProgress {
  if (!stream.isTTY || total === 0) return { tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream, format: 'importing [{bar}] {value}/{total} entries, {eta_formatted} left', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { tick: () => bar.increment(), stop: () => bar.stop() };
}
