import type { ChangeBatch } from '../lambda/user-store.ts';
import type { RelayLog } from './relay-log.ts';
import { METRIC, type RelayMetrics } from './relay-metrics.ts';

/** Which logins changed: a set, or `all` when the feed cannot say which. */
export type LoginChange = ReadonlySet<string> | 'all';

/** What the permit cache and the open sessions learn from the feed. */
export interface LoginChanges {
  /** True while the feed was read within the bound: what is remembered may be used. */
  isCurrent(): boolean;
  subscribe(listener: (change: LoginChange) => void): void;
}

/** The users table's change feed, as the store module reads it (lambda/user-store.ts). */
export interface ChangeFeedReader {
  changeHead(): Promise<number>;
  changesAfter(epoch: number): Promise<ChangeBatch>;
}

export interface ChangeFeedOptions {
  /** Time between the end of one read and the start of the next (REVOCATION_POLL_MS). */
  readonly pollMs: number;
  /**
   * Longest a change may go unseen (REVOCATION_BOUND_SECONDS): a feed not read
   * for this long is not current, and the relay trusts nothing it remembers.
   */
  readonly boundMs: number;
  /** How long a taken but unwritten epoch is waited for before everything is forgotten. @default boundMs / 2 */
  readonly gapGraceMs?: number;
  readonly log: RelayLog;
  readonly metrics?: RelayMetrics;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/**
 * Follows the users table's change feed (see lambda/user-store.ts) for one
 * relay task: one strongly consistent Query of the `CHANGE` partition per
 * poll, whatever the traffic, so revocation costs no read per message.
 *
 * Every writer changes a user first and then announces it: it takes an epoch
 * from the head item and writes a change item under it. So an epoch the head
 * shows but whose item is missing is a change written and not yet announced
 * (or whose writer died). Changes past such a gap are applied at once; the gap
 * itself is waited for `gapGraceMs`, then closed by forgetting everything (the
 * change it stands for was written before its epoch was taken, so whatever is
 * asked after that is fresh). A reader too far behind for one read does the same.
 *
 * Fails closed: while the feed has not been read for `boundMs`, `isCurrent`
 * says no, the permit cache is bypassed and every session is confirmed at its
 * next MAIL and before SES.
 */
export class ChangeFeed implements LoginChanges {
  private readonly listeners: Array<(change: LoginChange) => void> = [];
  private readonly now: () => number;
  private readonly gapGraceMs: number;
  /** Every epoch up to this one is applied; undefined until the head was first read. */
  private lastSeen: number | undefined;
  /** Epochs past a gap, applied already. */
  private readonly appliedPastGap = new Set<number>();
  private gap: { readonly epoch: number; readonly since: number } | undefined;
  /** When the last successful read started: what it saw is at least that fresh. */
  private readAt: number | undefined;
  private failingSince: number | undefined;
  private staleReported = false;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly reader: ChangeFeedReader,
    private readonly options: ChangeFeedOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.gapGraceMs = options.gapGraceMs ?? options.boundMs / 2;
  }

  subscribe(listener: (change: LoginChange) => void): void {
    this.listeners.push(listener);
  }

  isCurrent(): boolean {
    return this.readAt !== undefined && this.now() - this.readAt < this.options.boundMs;
  }

  /** Reads the head once (not waiting if that fails: the relay starts fail-closed) and polls from then on. */
  async start(): Promise<void> {
    await this.poll();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
  }

  /** One read of the feed; the loop calls it, and tests call it to step the feed. */
  poll(): Promise<void> {
    this.polling ??= this.read().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.poll().then(() => this.schedule()), this.options.pollMs);
    this.timer.unref();
  }

  private async read(): Promise<void> {
    const startedAt = this.now();
    try {
      if (this.lastSeen === undefined) this.lastSeen = await this.reader.changeHead();
      else await this.apply(await this.reader.changesAfter(this.lastSeen), startedAt);
    } catch (error) {
      this.failed(error, startedAt);
      return;
    }
    if (this.failingSince !== undefined) {
      this.options.log.info({ event: 'change-feed-current', outageMs: startedAt - this.failingSince }, 'change feed read again');
    }
    this.readAt = startedAt;
    this.failingSince = undefined;
    this.staleReported = false;
  }

  private async apply(batch: ChangeBatch, startedAt: number): Promise<void> {
    let lastSeen = this.lastSeen ?? 0;
    const fresh = batch.changes.filter((change) => change.epoch > lastSeen && !this.appliedPastGap.has(change.epoch));
    if (fresh.length > 0) this.notify(new Set(fresh.map((change) => change.login)));
    for (const change of fresh) {
      this.appliedPastGap.add(change.epoch);
      this.options.log.info(
        { event: 'user-change', login: change.login, kind: change.kind, epoch: change.epoch, lagMs: startedAt - Date.parse(change.at) },
        `change feed: ${change.login} ${change.kind}`,
      );
    }
    while (this.appliedPastGap.delete(lastSeen + 1)) lastSeen++;
    this.lastSeen = lastSeen;

    if (batch.truncated) {
      const head = await this.reader.changeHead();
      this.forgetAll(head, 'too many changes for one read');
      return;
    }
    const head = Math.max(batch.head ?? 0, ...fresh.map((change) => change.epoch));
    if (head <= lastSeen) {
      this.gap = undefined;
      return;
    }
    if (this.gap?.epoch !== lastSeen + 1) this.gap = { epoch: lastSeen + 1, since: startedAt };
    else if (startedAt - this.gap.since >= this.gapGraceMs) this.forgetAll(head, `epoch ${this.gap.epoch} taken but not written`);
  }

  /** Tells every listener that anything may have changed, up to `head`. */
  private forgetAll(head: number, why: string): void {
    this.options.log.warn({ event: 'change-feed-gap', from: this.lastSeen, to: head, why }, `change feed: ${why}; forgetting every permit`);
    this.lastSeen = Math.max(head, this.lastSeen ?? 0);
    for (const epoch of this.appliedPastGap) if (epoch <= this.lastSeen) this.appliedPastGap.delete(epoch);
    this.gap = undefined;
    this.notify('all');
  }

  private notify(change: LoginChange): void {
    for (const listener of this.listeners) listener(change);
  }

  private failed(error: unknown, at: number): void {
    this.options.metrics?.count(METRIC.changeFeedErrors);
    if (this.failingSince === undefined) {
      this.failingSince = at;
      this.options.log.warn({ event: 'change-feed-error', cause: String(error) }, 'change feed could not be read');
    }
    if (!this.isCurrent() && !this.staleReported) {
      this.staleReported = true;
      this.options.log.error(
        { event: 'change-feed-stale', boundMs: this.options.boundMs, cause: String(error) },
        'change feed unread for longer than the revocation bound: permits are not cached and every session is confirmed until it is read again',
      );
    }
  }
}
