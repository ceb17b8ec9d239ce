import type { Transaction } from './fault-client.ts';

/** One message as SES holds it (one stored copy). */
export interface HeldCopy {
  /** SES's message id. */
  readonly id: string;
  /** Our marker, if the copy is one of the scenario's messages. */
  readonly marker?: string;
  /** `FromEmailAddress` of the SendEmail request; absent for the null sender. */
  readonly from?: string;
}

/**
 * What one fault scenario did to its messages. A *message* is one marker; an
 * *attempt* is one SMTP transaction that tried to submit it (a client retries a
 * message after a 4xx, so one message may take several attempts).
 *
 * - delivered: attempts answered 250 whose SES message id SES holds.
 * - refused4xx / refused5xx: attempts that ended on a 4xx / 5xx reply (at any stage).
 * - noReply: attempts that got no final reply (the client hung up, or the connection died).
 * - lost: messages whose fate the client was told wrongly. Either the client was
 *   told 250 (queued as X) and SES holds no X; or SES holds the message although
 *   no attempt was told 250 and the client will not send it again (its last
 *   attempt ended in 5xx: it bounces a message that was in fact sent). SES
 *   copies that belong to no attempt at all count as lost too.
 * - duplicated: messages SES holds more than once.
 *
 * A message SES holds whose client got a 4xx or no reply is not lost: an SMTP
 * client retries until it gets 250 or 5xx (RFC 5321 4.5.4.1), so it will be
 * sent again, which is a duplicate in waiting; `duplicateRisks` names each one.
 */
export interface LedgerRow {
  readonly messages: number;
  readonly attempts: number;
  readonly delivered: number;
  readonly refused4xx: number;
  readonly refused5xx: number;
  readonly noReply: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Why each lost message counts as lost. */
  readonly losses: readonly string[];
  /** Messages SES holds whose client was not told 250 and will retry. */
  readonly duplicateRisks: readonly string[];
}

export function account(transactions: readonly Transaction[], held: readonly HeldCopy[]): LedgerRow {
  const markers = [...new Set(transactions.map((t) => t.message))];
  const heldIds = new Set(held.map((copy) => copy.id));
  const losses: string[] = [];
  const duplicateRisks: string[] = [];
  let delivered = 0;
  let duplicated = 0;

  for (const t of transactions) {
    if (t.reply?.code !== 250) continue;
    if (t.queuedAs !== undefined && heldIds.has(t.queuedAs)) delivered++;
    else losses.push(`${t.message}: told "${t.reply.text}" but SES holds no message ${t.queuedAs ?? '(no id in the reply)'}`);
  }
  for (const marker of markers) {
    const attempts = transactions.filter((t) => t.message === marker);
    const copies = held.filter((copy) => copy.marker === marker);
    const told250 = attempts.some((t) => t.reply?.code === 250);
    const last = attempts[attempts.length - 1];
    const willRetry = last !== undefined && (last.reply === undefined || (last.reply.code >= 400 && last.reply.code < 500));
    if (copies.length > 1) duplicated++;
    if (copies.length > 0 && !told250) {
      const told = last?.reply ? `"${last.reply.text}"` : 'nothing';
      if (willRetry) duplicateRisks.push(`${marker}: SES holds it, the client was told ${told} and will send it again`);
      else losses.push(`${marker}: SES holds it, the client was told ${told} and will not send it again`);
    }
  }
  const known = new Set(markers);
  for (const copy of held) {
    if (copy.marker === undefined || !known.has(copy.marker)) losses.push(`SES holds ${copy.id}, which no client attempt accounts for`);
  }

  return {
    messages: markers.length,
    attempts: transactions.length,
    delivered,
    refused4xx: transactions.filter((t) => t.reply !== undefined && t.reply.code >= 400 && t.reply.code < 500).length,
    refused5xx: transactions.filter((t) => t.reply !== undefined && t.reply.code >= 500).length,
    noReply: transactions.filter((t) => t.reply === undefined).length,
    lost: losses.length,
    duplicated,
    losses,
    duplicateRisks,
  };
}

const COLUMNS = ['fault', 'messages', 'attempts', 'delivered', 'refused 4xx', 'refused 5xx', 'no reply', 'lost', 'duplicated'] as const;

/** The fault table, one row per scenario, as fixed-width text. */
export function formatTable(rows: ReadonlyArray<{ readonly fault: string; readonly row: LedgerRow | undefined }>): string {
  const cells = rows.map(({ fault, row }) =>
    row === undefined
      ? [`${fault}: FAILED TO RUN`, ...COLUMNS.slice(1).map(() => '-')]
      : [fault, row.messages, row.attempts, row.delivered, row.refused4xx, row.refused5xx, row.noReply, row.lost, row.duplicated].map(String),
  );
  const total = rows.reduce(
    (sum, { row }) => (row ? COLUMNS.slice(1).map((_, i) => (sum[i] ?? 0) + [row.messages, row.attempts, row.delivered, row.refused4xx, row.refused5xx, row.noReply, row.lost, row.duplicated][i]!) : sum),
    COLUMNS.slice(1).map(() => 0),
  );
  const all = [[...COLUMNS], ...cells, ['total', ...total.map(String)]];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((line) => (line[i] ?? '').length)));
  const format = (line: readonly string[]) =>
    `| ${line.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [format(all[0]!), rule, ...all.slice(1, -1).map(format), rule, format(all[all.length - 1]!)].join('\n');
}
