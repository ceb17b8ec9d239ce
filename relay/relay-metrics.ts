/**
 * Relay metrics as CloudWatch Embedded Metric Format: JSON lines on stdout
 * that CloudWatch Logs turns into metrics, with no agent and no API call on
 * the hot path. Counts are summed in memory and written once a minute (and at
 * shutdown), so a busy task writes a handful of lines a minute, not one per
 * message.
 *
 * Metric names are part of the deployment's contract: lib/ builds the
 * dashboard and alarms on them.
 */
export const METRIC = {
  accepted: 'MessagesAccepted',
  rejected: 'MessagesRejected',
  authFailures: 'AuthFailures',
  sesErrors: 'SesErrors',
  sesLatency: 'SesLatency',
  connections: 'Connections',
  /** Failed reads of the users table's change feed (revocation); see relay/change-feed.ts. */
  changeFeedErrors: 'ChangeFeedErrors',
} as const;

export interface RelayMetricsOptions {
  readonly namespace: string;
  readonly stage: string;
  /** Where EMF lines go; one JSON document per call. */
  readonly write: (line: string) => void;
  readonly flushIntervalMs?: number;
}

/** EMF takes at most 100 distinct values a metric a document. */
const MAX_LATENCY_VALUES = 100;

export class RelayMetrics {
  private counts = new Map<string, number>();
  private rejectedByReason = new Map<string, number>();
  private latencies = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;
  private openSessions: (() => number) | undefined;

  constructor(private readonly options: RelayMetricsOptions) {
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 60_000);
    this.timer.unref();
  }

  /** Samples the number of open sessions at each flush. */
  observeConnections(openSessions: () => number): void {
    this.openSessions = openSessions;
  }

  count(metric: (typeof METRIC)['accepted' | 'authFailures' | 'sesErrors' | 'changeFeedErrors']): void {
    this.counts.set(metric, (this.counts.get(metric) ?? 0) + 1);
  }

  rejected(reason: string): void {
    this.rejectedByReason.set(reason, (this.rejectedByReason.get(reason) ?? 0) + 1);
  }

  sesLatency(ms: number): void {
    const rounded = Math.round(ms);
    if (this.latencies.size < MAX_LATENCY_VALUES || this.latencies.has(rounded)) {
      this.latencies.set(rounded, (this.latencies.get(rounded) ?? 0) + 1);
    }
  }

  flush(): void {
    const { namespace, stage, write } = this.options;
    const timestamp = Date.now();
    const counted = [...this.counts.entries()];
    const connections = this.openSessions?.();
    const metrics: Array<{ Name: string; Unit: string }> = counted.map(([name]) => ({ Name: name, Unit: 'Count' }));
    const values: Record<string, unknown> = Object.fromEntries(counted);
    if (this.latencies.size) {
      metrics.push({ Name: METRIC.sesLatency, Unit: 'Milliseconds' });
      values[METRIC.sesLatency] = { Values: [...this.latencies.keys()], Counts: [...this.latencies.values()] };
    }
    if (connections !== undefined) {
      metrics.push({ Name: METRIC.connections, Unit: 'Count' });
      values[METRIC.connections] = connections;
    }
    if (metrics.length) {
      write(JSON.stringify({
        _aws: { Timestamp: timestamp, CloudWatchMetrics: [{ Namespace: namespace, Dimensions: [['Stage']], Metrics: metrics }] },
        Stage: stage,
        ...values,
      }));
    }
    for (const [reason, count] of this.rejectedByReason) {
      write(JSON.stringify({
        _aws: { Timestamp: timestamp, CloudWatchMetrics: [{ Namespace: namespace, Dimensions: [['Stage'], ['Stage', 'Reason']], Metrics: [{ Name: METRIC.rejected, Unit: 'Count' }] }] },
        Stage: stage,
        Reason: reason,
        [METRIC.rejected]: count,
      }));
    }
    this.counts = new Map();
    this.rejectedByReason = new Map();
    this.latencies = new Map();
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
