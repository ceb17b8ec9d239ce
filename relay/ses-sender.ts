import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { SendEmailCommand, SESv2Client, SESv2ServiceException } from '@aws-sdk/client-sesv2';
import { SmtpError } from './smtp-error.ts';

export interface OutgoingMessage {
  /** Envelope sender; absent for the null sender `<>` (SES then uses the From header). */
  readonly from?: string;
  /** Every accepted RCPT, Bcc included: they are the SES destinations. */
  readonly recipients: readonly string[];
  readonly raw: Uint8Array;
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

const EMPTY = new Uint8Array(0);
const RAW_DATA_SLOT = Buffer.from('"Data":""');
/**
 * Raw bytes base64-encoded per step: a multiple of 3, so that the pieces join
 * without padding, and small enough that each piece of text is a young-generation
 * string (one big string per message costs a full GC now and then).
 */
const BASE64_STEP = 3 * 16 * 1024;
/** Larger messages are streamed into the request rather than copied into one body. */
export const STREAM_ABOVE_BYTES = 1024 * 1024;

/** The message of each request, by its `Content.Raw` object, until the request is built. */
const pendingRaw = new WeakMap<object, Uint8Array>();
const clientsFilling = new WeakSet<SESv2Client>();

/** `Content.Raw` for the command: empty for the SDK's serializer, the message kept aside. */
function rawContent(raw: Uint8Array): { Data: Uint8Array } {
  const content = { Data: EMPTY };
  pendingRaw.set(content, raw);
  return content;
}

/**
 * Puts each message into its SendEmail request once the SDK has built the
 * request. The SDK's serializer (@smithy/core 3.41) encodes a blob byte by
 * byte in JavaScript into a buffer it doubles as it grows: about 11 ms of CPU
 * and much garbage per MB, and a third and a fourth copy of the message in
 * memory. Instead the SDK serializes the request with an empty Data
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
      const raw = content ? pendingRaw.get(content) : undefined;
      const request = args.request as { body?: unknown; headers?: Record<string, string> } | undefined;
      if (raw && request?.headers) {
        if (raw.length > STREAM_ABOVE_BYTES) {
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

function asBuffer(raw: Uint8Array): Buffer {
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** The SendEmail JSON body with the message as `Content.Raw.Data`, in one buffer. */
export function withRawData(body: unknown, raw: Uint8Array): Buffer {
  const { head, tail } = splitAtRawData(body);
  const bytes = asBuffer(raw);
  const out = Buffer.allocUnsafe(head.length + Math.ceil(bytes.length / 3) * 4 + tail.length);
  let at = head.copy(out, 0);
  for (let from = 0; from < bytes.length; from += BASE64_STEP) {
    at += out.write(bytes.subarray(from, from + BASE64_STEP).toString('base64'), at, 'latin1');
  }
  tail.copy(out, at);
  return out;
}

/**
 * The same body as a stream of pieces made as the socket takes them, with its
 * length and SHA-256 (hex) worked out by a first pass over the same pieces:
 * SigV4 signs the payload's hash, and the signer takes it from the
 * `x-amz-content-sha256` header when a body is a stream. Memory stays at the
 * message itself, where a body in one buffer is a third copy of it.
 */
export function rawDataStream(body: unknown, raw: Uint8Array): { body: Readable; length: number; sha256: string } {
  const { head, tail } = splitAtRawData(body);
  const bytes = asBuffer(raw);
  function* pieces(): Generator<Buffer> {
    yield head;
    for (let from = 0; from < bytes.length; from += BASE64_STEP) {
      yield Buffer.from(bytes.subarray(from, from + BASE64_STEP).toString('base64'), 'latin1');
    }
    yield tail;
  }
  const hash = createHash('sha256');
  for (const piece of pieces()) hash.update(piece);
  return {
    body: Readable.from(pieces(), { objectMode: false }),
    length: head.length + Math.ceil(bytes.length / 3) * 4 + tail.length,
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
