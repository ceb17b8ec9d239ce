import { Writable } from 'node:stream';

/**
 * The relay's log for a person at a terminal: one line per event, in the
 * manner of Postfix's maillog (`5nq3g2kx: reject: RCPT from [192.0.2.1]: 553
 * 5.7.1 ...; from=<a> to=<b>`), with Postfix's `warning:`/`error:` prefixes
 * and the private cause of a failure at the end. The message of each event is
 * written to read on its own; the JSON fields stay for machines (LOG_FORMAT=json).
 */
export function humanLogLine(record: Readonly<Record<string, unknown>>): string {
  const time = typeof record.time === 'string' ? localTime(new Date(record.time)) : '';
  const prefix = LEVEL_PREFIXES[String(record.level)] ?? '';
  const session = typeof record.session === 'string' ? `${record.session}: ` : '';
  const cause = causeOf(record);
  const message = `${prefix}${session}${String(record.msg ?? record.event ?? '')}${cause ? ` (${cause})` : ''}`;
  return `${time} ${escapeControls(message)}`;
}

/** A destination for pino that writes each JSON record it gets as `humanLogLine` to `out`. */
export function humanLogStream(out: NodeJS.WritableStream): Writable {
  let partial = '';
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      const text = lines.filter(Boolean).map((line) => `${humanLogLine(parsed(line))}\n`).join('');
      if (text === '' || out.write(text)) callback();
      else out.once('drain', () => callback());
    },
  });
}

/** Postfix's severity prefixes; info has none. */
const LEVEL_PREFIXES: Readonly<Record<string, string>> = {
  trace: 'trace: ',
  debug: 'debug: ',
  warn: 'warning: ',
  error: 'error: ',
  fatal: 'fatal: ',
};

function causeOf(record: Readonly<Record<string, unknown>>): string | undefined {
  if (typeof record.cause === 'string') return record.cause;
  const err = record.err;
  if (typeof err === 'string') return err;
  if (err && typeof err === 'object' && 'message' in err) return String(err.message);
  return undefined;
}

function parsed(line: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(line);
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : { msg: line };
  } catch {
    return { msg: line };
  }
}

/** `2026-12-05 17:20:01.123` in local time: what a person compares with their clock. */
function localTime(date: Date): string {
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/**
 * A client's bytes reach some messages (a login name, an address): a CR or LF
 * there must not start a line that looks like another event, nor may an
 * escape sequence drive the terminal.
 */
function escapeControls(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
