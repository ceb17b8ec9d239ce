import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { SendEmailCommand, SESv2Client, SESv2ServiceException } from '@aws-sdk/client-sesv2';
import { SmtpError } from './smtp-error.ts';

export interface OutgoingMessage {
  /** Envelope sender; absent for the null sender `<>` (SES then uses the From header). */
  readonly from?: string;
  /** Every accepted RCPT, Bcc included: they are the SES destinations. */
  readonly recipients: readonly string[];
  /**
   * The message as it leaves, in one buffer or in pieces sent one after the
   * other (a large message need not be copied into one buffer for SES).
   */
  readonly raw: Uint8Array | readonly Uint8Array[];
  readonly configurationSet?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

export interface SesSenderOptions {
  /** Throttled sends are retried this many times: a throttled request was not sent. */
  readonly throttleRetries: number;
  /** First back-off; doubles with each retry. */
  readonly throttleBackoffMs: number;
}

/**
 * Hands a message to SES through the v2 API (SendEmail with raw content: 40 MB,
 * where v1 SendRawEmail stops at 10 MB after base64) and turns every SES answer
 * into the SMTP reply the client must get.
 *
 * Retries: only a throttled request (HTTP 429) is retried, because SES refused
 * it before accepting anything. A timeout or a 5xx may have left SES holding the
 * message, so it is answered 451 and left to the client: a retry there could
 * send the message twice. The SDK's own retries are therefore off (the client is
 * built with maxAttempts 1).
 */
export class SesSender {
  constructor(
    private readonly client: SESv2Client,
    private readonly options: SesSenderOptions,
  ) {
    fillRawDataOf(client);
  }

  /** Resolves with SES's message id, or rejects with an SmtpError. */
  async send(message: OutgoingMessage): Promise<string> {
    const command = new SendEmailCommand({
      ...(message.from ? { FromEmailAddress: message.from } : {}),
      Destination: { ToAddresses: [...message.recipients] },
      Content: { Raw: rawContent(message.raw) },
      ...(message.configurationSet ? { ConfigurationSetName: message.configurationSet } : {}),
      ...(message.tags && Object.keys(message.tags).length
        ? { EmailTags: Object.entries(message.tags).map(([Name, Value]) => ({ Name, Value })) }
        : {}),
    });
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await this.client.send(command);
        if (!out.MessageId) throw new Error('SES answered without a MessageId');
        return out.MessageId;
      } catch (error) {
        const reply = sesErrorToReply(error);
        if (reply.reason !== 'ses-throttled' || attempt >= this.options.throttleRetries) throw reply;
        await new Promise((resolve) => setTimeout(resolve, this.options.throttleBackoffMs * 2 ** attempt));
      }
    }
  }
}

type RawMessage = Uint8Array | readonly Uint8Array[];

const EMPTY = new Uint8Array(0);
const RAW_DATA_SLOT = Buffer.from('"Data":""');
/**
 * Raw bytes base64-encoded per step: a multiple of 3, so that the pieces join
 * without padding, and small enough that each piece of text is a short-lived
 * young-generation string.
 */
const BASE64_STEP = 3 * 16 * 1024;
/** Larger messages are streamed into the request rather than copied into one body. */
export const STREAM_ABOVE_BYTES = 4 * 1024 * 1024;

/**
 * Where the message waits for its request to be built: a symbol-keyed member
 * of `Content.Raw`, which the SDK's serializer (schema members only) ignores.
 * Not a WeakMap: with megabyte values its ephemerons made every GC dearer,
 * 2–5 ms of CPU per 1 MB message in the relay.
 */
const RAW = Symbol('raw message');
const clientsFilling = new WeakSet<SESv2Client>();

/** `Content.Raw` for the command: empty for the SDK's serializer, the message kept aside. */
function rawContent(raw: RawMessage): { Data: Uint8Array; [RAW]: RawMessage } {
  return { Data: EMPTY, [RAW]: raw };
}

/**
 * Puts each message into its SendEmail request once the SDK has built the
 * request. The SDK's serializer (@smithy/core 3.41) encodes a blob byte by
 * byte in JavaScript into a buffer it doubles as it grows: CPU, garbage, and
 * a third and a fourth copy of the message in memory (the README's Performance section has
 * the measurements). Instead the SDK serializes the request with an empty Data
 * (`"Data":""`) and the message is base64-encoded natively, into a body of
 * exactly the right size (`withRawData`) or, above STREAM_ABOVE_BYTES, as a
 * stream (`rawDataStream`) whose SHA-256 is computed beforehand for SigV4.
 * A middleware of the client, not of each command, so that the client may
 * cache its middleware chain.
 */
function fillRawDataOf(client: SESv2Client): void {
  if (clientsFilling.has(client)) return;
  clientsFilling.add(client);
  client.middlewareStack.add(
    (next) => async (args) => {
      const content = (args.input as { Content?: { Raw?: object } }).Content?.Raw;
      const raw = content ? (content as { [RAW]?: RawMessage })[RAW] : undefined;
      const request = args.request as { body?: unknown; headers?: Record<string, string> } | undefined;
      if (raw && request?.headers) {
        if (byteLength(raw) > STREAM_ABOVE_BYTES) {
          const stream = rawDataStream(request.body, raw);
          request.body = stream.body;
          request.headers['content-length'] = String(stream.length);
          request.headers['x-amz-content-sha256'] = stream.sha256;
        } else {
          const body = withRawData(request.body, raw);
          request.body = body;
          request.headers['content-length'] = String(body.length);
        }
      } else if (content && (content as { Data?: unknown }).Data === EMPTY) {
        throw new Error('SendEmail request built without its message');
      }
      return next(args);
    },
    { step: 'build', priority: 'high', name: 'relayRawMessageBody' },
  );
}

/**
 * The serialized request around its empty Raw.Data: `"Data":""` can only be
 * that member, since every string value in the JSON is escaped. A body without
 * it means the SDK changed; then nothing is sent (the error becomes a 451)
 * rather than an empty message.
 */
function splitAtRawData(body: unknown): { head: Buffer; tail: Buffer } {
  const serialized =
    typeof body === 'string' ? Buffer.from(body) : body instanceof Uint8Array ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined;
  const slot = serialized ? serialized.indexOf(RAW_DATA_SLOT) : -1;
  if (!serialized || slot < 0) throw new Error('SendEmail request body has no empty Content.Raw.Data to fill');
  const dataStart = slot + RAW_DATA_SLOT.length - 1; // between the two quotes
  return { head: serialized.subarray(0, dataStart), tail: serialized.subarray(dataStart) };
}

function partsOf(raw: RawMessage): readonly Uint8Array[] {
  return raw instanceof Uint8Array ? [raw] : raw;
}

function byteLength(raw: RawMessage): number {
  return partsOf(raw).reduce((sum, part) => sum + part.length, 0);
}

/**
 * The base64 of the parts taken as one message, as consecutive pieces of text
 * (Node's native encoder): each piece but the last encodes a multiple of 3
 * bytes, a part ending inside a 3-byte group handing its last 1 or 2 bytes to
 * the next.
 */
function* base64Pieces(raw: RawMessage): Generator<string> {
  let carry: Buffer = Buffer.alloc(0);
  for (const part of partsOf(raw)) {
    let bytes = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    if (carry.length > 0) {
      const wanted = 3 - carry.length;
      if (bytes.length < wanted) {
        carry = Buffer.concat([carry, bytes]);
        continue;
      }
      yield Buffer.concat([carry, bytes.subarray(0, wanted)]).toString('base64');
      bytes = bytes.subarray(wanted);
    }
    const whole = bytes.length - (bytes.length % 3);
    for (let from = 0; from < whole; from += BASE64_STEP) {
      yield bytes.subarray(from, Math.min(whole, from + BASE64_STEP)).toString('base64');
    }
    carry = bytes.subarray(whole);
  }
  if (carry.length > 0) yield carry.toString('base64');
}

/** The SendEmail JSON body with the message as `Content.Raw.Data`, in one buffer. */
export function withRawData(body: unknown, raw: RawMessage): Buffer {
  const { head, tail } = splitAtRawData(body);
  const out = Buffer.allocUnsafe(head.length + Math.ceil(byteLength(raw) / 3) * 4 + tail.length);
  let at = head.copy(out, 0);
  for (const piece of base64Pieces(raw)) at += out.write(piece, at, 'latin1');
  tail.copy(out, at);
  return out;
}

/**
 * The same body as a stream of pieces made as the socket takes them, with its
 * length and SHA-256 (hex) worked out by a first pass over the same pieces:
 * SigV4 signs the payload's hash, and the signer takes it from the
 * `x-amz-content-sha256` header when a body is a stream. Memory stays near
 * the message itself, where a body in one buffer is one more copy of it: the
 * stream holds one piece at a time, and hands the socket the base64 text as
 * it is (ASCII, so its UTF-8 is the same bytes) rather than a buffer per piece.
 */
export function rawDataStream(body: unknown, raw: RawMessage): { body: Readable; length: number; sha256: string } {
  const { head, tail } = splitAtRawData(body);
  const hash = createHash('sha256').update(head);
  for (const piece of base64Pieces(raw)) hash.update(piece, 'latin1');
  hash.update(tail);
  function* pieces(): Generator<Buffer | string> {
    yield head;
    yield* base64Pieces(raw);
    yield tail;
  }
  return {
    body: Readable.from(pieces(), { objectMode: true, highWaterMark: 1 }),
    length: head.length + Math.ceil(byteLength(raw) / 3) * 4 + tail.length,
    sha256: hash.digest('hex'),
  };
}

/**
 * SES's answer, as SMTP. Temporary where the client should try again later
 * (throttling, SES trouble, our own configuration), permanent with SES's reason
 * where the message itself or its sender is refused.
 */
export function sesErrorToReply(error: unknown): SmtpError {
  const name = error instanceof Error ? error.name : 'Unknown';
  const reason = error instanceof Error ? error.message : String(error);
  switch (name) {
    case 'TooManyRequestsException':
    case 'LimitExceededException':
    case 'ThrottlingException':
      return new SmtpError(451, '4.4.5', 'Sending rate exceeded, try again later', error, 'ses-throttled');
    case 'MessageRejected':
    case 'BadRequestException':
      return new SmtpError(554, '5.6.0', `Message rejected by SES: ${publicReason(reason)}`, error, 'ses-rejected');
    case 'MailFromDomainNotVerifiedException':
      return new SmtpError(554, '5.7.1', `Sender rejected by SES: ${publicReason(reason)}`, error, 'ses-rejected');
    case 'AccountSuspendedException':
    case 'SendingPausedException':
      return new SmtpError(451, '4.3.2', 'Sending is paused for this service, try again later', error, 'ses-paused');
    case 'NotFoundException':
      return new SmtpError(451, '4.3.5', 'Relay configuration error, try again later', error, 'ses-config');
    case 'TimeoutError':
    case 'RequestTimeout':
      return new SmtpError(451, '4.4.1', 'No answer from the mail service, try again later', error, 'ses-timeout');
  }
  const status = error instanceof SESv2ServiceException ? error.$metadata.httpStatusCode : undefined;
  if (status === 429) {
    return new SmtpError(451, '4.4.5', 'Sending rate exceeded, try again later', error, 'ses-throttled');
  }
  return new SmtpError(451, '4.4.0', 'Temporary failure handing the message to the mail service', error, 'ses-error');
}

/** SES's own text, on one line and bounded, for the client to see. */
function publicReason(reason: string): string {
  return reason.replace(/[\r\n]+/g, ' ').slice(0, 300);
}
