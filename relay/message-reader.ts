import type { Readable } from 'node:stream';
import type { MessageMemory } from './message-memory-budget.ts';

/** What makes a message unfit to leave the relay, found while it is read. */
export type MessageDefect = 'bare-cr' | 'bare-lf' | 'nul' | 'long-line' | 'header-too-long';

export interface ReceivedMessage {
  /** The header section, up to and including the empty line that ends it. */
  readonly header: Buffer;
  /** The rest of the message as received, in chunks (no copy of a large body). */
  readonly body: readonly Buffer[];
  /** Bytes of header and body together. */
  readonly size: number;
  /** The first defect found, if any; the message is still read to its end. */
  readonly defect?: MessageDefect;
  /**
   * Why the content was not kept (header and body are then empty): it passed
   * SIZE, or the process's message memory was spent. It was still read to its end.
   */
  readonly discarded?: 'size' | 'memory';
}

export interface MessageReaderLimits {
  /** RFC 5322 2.1.1: 998 characters a line, without the CRLF. */
  readonly maxLineLength: number;
  readonly maxHeaderBytes: number;
  /** SIZE: bytes past it are counted and dropped, never kept. */
  readonly maxMessageBytes: number;
  /** Every byte kept is held here; the caller releases it once the message is sent or refused. */
  readonly memory: MessageMemory;
}

const CR = 0x0d;
const LF = 0x0a;
const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Reads a DATA stream (already dot-unstuffed by smtp-server) to its end,
 * checking as it goes what must never reach SES:
 *
 * - a bare CR or bare LF (SMTP smuggling, CVE-2023-51764 class: a peer that
 *   reads a bare LF as a line end could see a message end we did not);
 * - a NUL byte, which RFC 5322 never allows and parsers read differently (C
 *   strings end there; a header could be judged short and read long);
 * - a line over 998 characters, which SES refuses after the fact;
 * - a header section too large to judge.
 *
 * It always drains the stream, so that the session can answer and go on.
 * The scans use Buffer.indexOf, so a 40 MB body costs a few native passes.
 * Once the message passes SIZE or a chunk does not fit the memory budget,
 * everything kept is let go and the rest is only counted: a client streaming
 * gigabytes into DATA costs the relay one chunk of memory at a time.
 */
export async function readMessage(stream: Readable, limits: MessageReaderLimits): Promise<ReceivedMessage> {
  const body: Buffer[] = [];
  let headerParts: Buffer[] = [];
  let headerBytes = 0;
  let header: Buffer | undefined;
  let size = 0;
  let defect: MessageDefect | undefined;
  let previous = -1; // last byte of the previous chunk
  let lineStart = 0; // stream offset where the current line starts
  let discarded: ReceivedMessage['discarded'];

  for await (const piece of stream) {
    const chunk = piece as Buffer;
    const offset = size;
    size += chunk.length;
    if (discarded) continue;
    discarded = size > limits.maxMessageBytes ? 'size' : limits.memory.tryHold(chunk.length) ? undefined : 'memory';
    if (discarded) {
      limits.memory.release();
      body.length = 0;
      headerParts = [];
      header = Buffer.alloc(0);
      continue;
    }
    if (!defect) {
      defect = scanLineEnds(chunk, previous) ?? (chunk.includes(0) ? 'nul' : undefined);
      if (!defect) {
        const result = scanLineLengths(chunk, offset, lineStart, limits.maxLineLength);
        lineStart = result.lineStart;
        if (result.tooLong) defect = 'long-line';
      }
    }
    previous = chunk[chunk.length - 1] ?? previous;

    if (header) {
      body.push(chunk);
      continue;
    }
    headerParts.push(chunk);
    headerBytes += chunk.length;
    const joined = headerParts.length === 1 ? chunk : Buffer.concat(headerParts, headerBytes);
    headerParts = [joined];
    const end = joined.subarray(0, 2).equals(HEADER_END.subarray(2)) ? 0 : joined.indexOf(HEADER_END);
    if (end >= 0) {
      const headerLength = end === 0 ? 2 : end + 4;
      header = joined.subarray(0, headerLength);
      if (headerLength < joined.length) body.push(joined.subarray(headerLength));
      if (headerLength > limits.maxHeaderBytes) defect ??= 'header-too-long';
      headerParts = [];
    } else if (headerBytes > limits.maxHeaderBytes) {
      defect ??= 'header-too-long';
      header = Buffer.alloc(0);
      body.push(joined);
      headerParts = [];
    }
  }
  // A CR as the very last byte has no LF after it.
  if (!defect && previous === CR) defect = 'bare-cr';
  if (!header) {
    // Only a header section, with no empty line after it: a valid message
    // (RFC 5322 allows no body), but only when it is whole lines.
    header = headerParts.length ? Buffer.concat(headerParts, headerBytes) : Buffer.alloc(0);
    if (header.length > limits.maxHeaderBytes) defect ??= 'header-too-long';
  }
  return { header, body, size, ...(defect ? { defect } : {}), ...(discarded ? { discarded } : {}) };
}

function scanLineEnds(chunk: Buffer, previous: number): MessageDefect | undefined {
  if (previous === CR && chunk[0] !== LF) return 'bare-cr';
  for (let i = chunk.indexOf(LF); i >= 0; i = chunk.indexOf(LF, i + 1)) {
    const before = i === 0 ? previous : chunk[i - 1];
    if (before !== CR) return 'bare-lf';
  }
  for (let i = chunk.indexOf(CR); i >= 0; i = chunk.indexOf(CR, i + 1)) {
    if (i + 1 < chunk.length && chunk[i + 1] !== LF) return 'bare-cr';
  }
  return undefined;
}

function scanLineLengths(
  chunk: Buffer,
  offset: number,
  lineStart: number,
  maxLineLength: number,
): { lineStart: number; tooLong: boolean } {
  let start = lineStart;
  for (let i = chunk.indexOf(LF); i >= 0; i = chunk.indexOf(LF, i + 1)) {
    const lineEnd = offset + i - 1; // the CR before the LF
    if (lineEnd - start > maxLineLength) return { lineStart: start, tooLong: true };
    start = offset + i + 1;
  }
  // An unfinished line already over the limit cannot end well.
  const tooLong = offset + chunk.length - start > maxLineLength + 1;
  return { lineStart: start, tooLong };
}
