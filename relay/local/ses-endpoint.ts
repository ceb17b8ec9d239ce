/**
 * A local stand-in for Amazon SES v2, so that the relay runs on one machine with
 * the real `SESv2Client`: only `endpoint` and credentials change.
 *
 * It implements SendEmail with `Content.Raw` and keeps each accepted message as
 * `<MessageId>.eml` (the raw bytes exactly as sent) and `<MessageId>.json` (the
 * envelope) in an outbox directory, or only counts them (`keepInMemory`, for
 * benchmarks). Faults — throttling, rejections, timeouts — can be armed from the
 * environment or the control routes to test how the relay copes with SES failing.
 *
 * SECURITY: accepts any SigV4 signature without checking it, and its control routes
 * have no authentication; it listens on 127.0.0.1 unless told otherwise.
 * STANDARDS: Amazon SES API v2 `SendEmail` (POST /v2/email/outbound-emails), AWS
 * restJson1 errors (`x-amzn-ErrorType` header, `{"message"}` body), which the SDK
 * parses into its own exception classes (`TooManyRequestsException`, `MessageRejected`, ...).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { FaultPlan, isDelayFault } from './fault-plan.ts';
import { startLocalEndpointServer, type LocalEndpointRequest, type RequestBody } from './local-endpoint-server.ts';
import { simulatedEvents } from './ses-mailbox-simulator.ts';
import type { EventBridgeSesEvent } from '../../lambda/reputation-handler.ts';

/** Faults answered with an SES error; see `ERROR_FAULTS` for the exact answers. */
export type SesErrorFault =
  | 'throttle'
  | 'internal'
  | 'unavailable'
  | 'reject'
  | 'mail-from-not-verified'
  | 'account-suspended'
  | 'sending-paused';

/**
 * Every fault the stand-in can play:
 * - the `SesErrorFault`s: answered at once with that error; nothing stored.
 * - `timeout`: never answered, nothing stored. Real SES may have sent a message
 *   whose answer was lost; the stand-in takes the side a sender cannot tell apart
 *   and does not store it, so a test sees exactly what the relay did about it.
 * - `timeout-after-accept`: stored, then never answered: the window where a retry
 *   by the sender sends the message twice.
 * - `delay:<ms>`: answered normally after `<ms>`; stored even if the client gave up
 *   meanwhile, as a real server would.
 * Faults apply to valid requests only: a malformed request gets its validation
 * error and does not use up a fault.
 */
export type SesFault = SesErrorFault | 'timeout' | 'timeout-after-accept' | `delay:${number}`;

interface CommonOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** How many of the latest accepted messages to also hold in memory, bytes included, for `recentMessages()`. @default 0 */
  readonly keepLast?: number;
  /** Where `LOCAL_SES_FAULT` and `LOCAL_SES_FAULT_COUNT` are read at start. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Receives one line on start (URL, mode, armed fault); never any message content. */
  readonly log?: (line: string) => void;
  /**
   * Receives, for each accepted message, the sending events SES's mailbox
   * simulator would publish through EventBridge (see ses-mailbox-simulator.ts),
   * after the message was answered. @default - no events
   */
  readonly publishEvents?: (events: readonly EventBridgeSesEvent[]) => void;
}

export type LocalSesEndpointOptions = CommonOptions &
  (
    | {
        /** Directory accepted messages are written to; created if missing. */
        readonly outboxDir: string;
        readonly keepInMemory?: false;
      }
    | {
        /** Ignored: in memory mode nothing is written anywhere. */
        readonly outboxDir?: string;
        /** Keep nothing on disk, only count messages and bytes, so a benchmark measures the relay and not the disk. */
        readonly keepInMemory: true;
      }
  );

/** The envelope of an accepted message, as written to `<MessageId>.json`. */
export interface SesMessageRecord {
  readonly messageId: string;
  /** ISO 8601 time the stand-in accepted the message. */
  readonly receivedAt: string;
  /** `FromEmailAddress` of the request; absent when the request had none. */
  readonly from?: string;
  /** Every recipient of `Destination`: To, then Cc, then Bcc, each in request order. */
  readonly destinations: readonly string[];
  readonly to: readonly string[];
  readonly cc: readonly string[];
  readonly bcc: readonly string[];
  /** `ConfigurationSetName` of the request, if any. */
  readonly configurationSet?: string;
  /** `EmailTags` of the request, in order. */
  readonly tags: readonly { readonly name: string; readonly value: string }[];
  /** Size of the raw message in bytes. */
  readonly size: number;
  /**
   * The SDK's `amz-sdk-invocation-id` and `amz-sdk-request` (`attempt=2; max=3`):
   * two stored messages with one invocation id are one SDK call that retried.
   */
  readonly sdkInvocationId?: string;
  readonly sdkAttempt?: string;
}

export interface LocalSesMessage extends SesMessageRecord {
  readonly raw: Buffer;
}

/** Counters since start. When no request is in progress, `requests = accepted + failed + unanswered`. */
export interface SesEndpointStats {
  /** SendEmail requests received; every SDK attempt counts. */
  readonly requests: number;
  /** Messages stored (the outbox holds exactly these), answered or not. */
  readonly accepted: number;
  /** Raw bytes of the stored messages. */
  readonly acceptedBytes: number;
  /** Of `accepted`, those whose 200 answer never reached the client (`timeout-after-accept`, client gone, server closed). */
  readonly acceptedUnanswered: number;
  /** Answered with an error; nothing stored. */
  readonly failed: number;
  /** Never answered and nothing stored (`timeout`, or the server closed during a `delay`). */
  readonly unanswered: number;
  /** `failed` by error code. */
  readonly errors: Readonly<Record<string, number>>;
}

export interface LocalSesEndpoint {
  /** Give this to `SESv2Client` as `endpoint`. */
  readonly url: string;
  readonly port: number;
  readonly faults: FaultPlan<SesFault>;
  stats(): SesEndpointStats;
  /** The latest `keepLast` accepted messages, oldest first. */
  recentMessages(): readonly LocalSesMessage[];
  /** Stops listening, drops held requests (their clients see the connection close) and waits for messages being stored. */
  close(): Promise<void>;
}

const SEND_EMAIL_PATH = '/v2/email/outbound-emails';
const MAX_RECIPIENTS = 50;
/**
 * SES v2 limit on the raw message, 40 MB, read as MiB. The quota page says "after
 * base64 encoding"; that is the MIME encoding inside the message (the same limit
 * holds for SMTP, which has no API base64), so the limit is on the decoded bytes.
 */
const MAX_MESSAGE_BYTES = 40 * 1024 * 1024;
/** The base64 of the largest message plus room for the other fields; longer cannot be valid. */
const MAX_REQUEST_BYTES = Math.ceil(MAX_MESSAGE_BYTES / 3) * 4 + 1024 * 1024;
/** SES's rule for tag names and values (MessageTag in the API reference). */
const TAG_TEXT = /^[A-Za-z0-9_-]*$/;
const MAX_TAG_LENGTH = 256;

interface SesError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

interface SendEmailInput {
  readonly from?: string;
  readonly to: readonly string[];
  readonly cc: readonly string[];
  readonly bcc: readonly string[];
  readonly configurationSet?: string;
  readonly tags: readonly { readonly name: string; readonly value: string }[];
  readonly raw: Buffer;
  /** Region of the SigV4 credential scope, upper-cased as SES writes it in messages. */
  readonly region: string;
}

/**
 * The answers of the error faults. Throttle and reject copy what SES v2 is seen to
 * answer; `internal` and `unavailable` are the AWS common errors, which SESv2Client
 * has no class for (it throws `SESv2ServiceException` named after the code); the
 * other texts are modelled, the codes and statuses are those of the SES v2 model.
 */
const ERROR_FAULTS: Readonly<Record<SesErrorFault, (input: SendEmailInput) => SesError>> = {
  throttle: () => ({ status: 429, code: 'TooManyRequestsException', message: 'Maximum sending rate exceeded.' }),
  internal: () => ({
    status: 500,
    code: 'InternalFailure',
    message: 'The request processing has failed because of an unknown error, exception or failure.',
  }),
  unavailable: () => ({
    status: 503,
    code: 'ServiceUnavailable',
    message: 'The request has failed due to a temporary failure of the server.',
  }),
  reject: (input) => ({
    status: 400,
    code: 'MessageRejected',
    // Without FromEmailAddress, name a recipient: in the sandbox SES checks those too.
    message: `Email address is not verified. The following identities failed the check in region ${input.region}: ${input.from ?? input.to[0] ?? ''}`,
  }),
  'mail-from-not-verified': () => ({
    status: 400,
    code: 'MailFromDomainNotVerifiedException',
    message: 'The MAIL FROM domain of the sending identity is not verified.',
  }),
  'account-suspended': () => ({
    status: 400,
    code: 'AccountSuspendedException',
    message: 'Sending is suspended for this account.',
  }),
  'sending-paused': () => ({
    status: 400,
    code: 'SendingPausedException',
    message: 'Sending is paused for this account.',
  }),
};

function isErrorFault(text: string): text is SesErrorFault {
  return Object.hasOwn(ERROR_FAULTS, text);
}

function isSesFault(text: string): text is SesFault {
  return isErrorFault(text) || text === 'timeout' || text === 'timeout-after-accept' || isDelayFault(text);
}

export async function startLocalSesEndpoint(options: LocalSesEndpointOptions): Promise<LocalSesEndpoint> {
  const faults = FaultPlan.fromEnvironment(isSesFault, options.env ?? process.env, 'LOCAL_SES');
  const outboxDir = options.keepInMemory === true ? undefined : options.outboxDir;
  if (outboxDir !== undefined) {
    await mkdir(outboxDir, { recursive: true });
  }
  const keepLast = options.keepLast ?? 0;
  const recent: LocalSesMessage[] = [];
  const stats = { requests: 0, accepted: 0, acceptedBytes: 0, acceptedUnanswered: 0, failed: 0, unanswered: 0 };
  const errors: Record<string, number> = {};
  const snapshot = (): SesEndpointStats => ({ ...stats, errors: { ...errors } });

  const fail = (request: LocalEndpointRequest, error: SesError): void => {
    stats.failed += 1;
    errors[error.code] = (errors[error.code] ?? 0) + 1;
    request.replyError(error.status, error.code, { message: error.message });
  };

  const accept = async (request: LocalEndpointRequest, input: SendEmailInput, answer: boolean): Promise<void> => {
    const record = describeMessage(input, request.headers);
    try {
      if (outboxDir !== undefined) {
        await storeInOutbox(outboxDir, record, input.raw);
      }
    } catch (error) {
      fail(request, {
        status: 500,
        code: 'InternalFailure',
        message: `local SES endpoint could not store the message: ${(error as Error).message}`,
      });
      return;
    }
    stats.accepted += 1;
    stats.acceptedBytes += input.raw.length;
    if (keepLast > 0) {
      recent.push({ ...record, raw: input.raw });
      if (recent.length > keepLast) {
        recent.shift();
      }
    }
    const delivered = answer && request.reply(200, JSON.stringify({ MessageId: record.messageId }));
    if (!delivered) {
      stats.acceptedUnanswered += 1;
    }
    options.publishEvents?.(simulatedEvents({ ...record, raw: input.raw, region: input.region }));
    if (!answer) {
      await request.hang();
    }
  };

  const handle = async (request: LocalEndpointRequest): Promise<void> => {
    if (request.method !== 'POST' || request.path !== SEND_EMAIL_PATH) {
      request.replyError(404, 'UnknownOperationException', {
        message: `The local SES endpoint implements SendEmail (POST ${SEND_EMAIL_PATH}) only.`,
      });
      return;
    }
    const body = await request.body(MAX_REQUEST_BYTES);
    stats.requests += 1;
    const parsed = parseSendEmail(body, request.signingRegion);
    if ('status' in parsed) {
      fail(request, parsed);
      return;
    }
    const fault = faults.take();
    if (fault === undefined) {
      await accept(request, parsed, true);
    } else if (isErrorFault(fault)) {
      fail(request, ERROR_FAULTS[fault](parsed));
    } else if (fault === 'timeout') {
      stats.unanswered += 1;
      await request.hang();
    } else if (fault === 'timeout-after-accept') {
      await accept(request, parsed, false);
    } else if (await request.wait(Number(fault.slice('delay:'.length)))) {
      await accept(request, parsed, true);
    } else {
      stats.unanswered += 1;
    }
  };

  const server = await startLocalEndpointServer({ host: options.host, port: options.port, faults, stats: snapshot, handle });
  const armed = faults.current();
  options.log?.(
    `local SES endpoint listening on ${server.url}, ${outboxDir === undefined ? 'keeping messages in memory' : `outbox ${outboxDir}`}` +
      (armed === undefined ? '' : `, fault ${armed.fault} armed for ${armed.remaining ?? 'every'} request(s)`),
  );
  return {
    url: server.url,
    port: server.port,
    faults,
    stats: snapshot,
    recentMessages: () => [...recent],
    close: server.close,
  };
}

/** Validates a SendEmail request where SES would and it is cheap; returns the input or the error SES would answer. */
function parseSendEmail(body: RequestBody, region: string): SendEmailInput | SesError {
  if (body.tooLarge) {
    return messageTooLong(Math.floor((body.size * 3) / 4));
  }
  let request: unknown;
  try {
    request = JSON.parse(body.bytes.toString('utf8'));
  } catch {
    return serializationError('the request body is not JSON');
  }
  if (!isRecord(request)) {
    return serializationError('the request body is not a JSON object');
  }
  const { FromEmailAddress, Destination, Content, ConfigurationSetName, EmailTags } = request;
  if (!isOptional(FromEmailAddress, isString) || !isOptional(ConfigurationSetName, isString)) {
    return serializationError('FromEmailAddress and ConfigurationSetName must be strings');
  }
  if (!isOptional(Destination, isRecord)) {
    return serializationError('Destination must be an object');
  }
  const to = Destination?.ToAddresses ?? [];
  const cc = Destination?.CcAddresses ?? [];
  const bcc = Destination?.BccAddresses ?? [];
  if (!isStringList(to) || !isStringList(cc) || !isStringList(bcc)) {
    return serializationError('ToAddresses, CcAddresses and BccAddresses must be lists of strings');
  }
  const tags = EmailTags ?? [];
  if (!isTagList(tags)) {
    return serializationError('EmailTags must be a list of {Name, Value} strings');
  }
  const data = isRecord(Content) && isRecord(Content.Raw) ? Content.Raw.Data : undefined;
  if (!isString(data)) {
    return badRequest('The local SES endpoint implements SendEmail with Content.Raw.Data only.');
  }
  const raw = decodeBase64Strictly(data);
  if (raw === undefined) {
    return serializationError('Content.Raw.Data is not valid base64');
  }
  if (raw.length > MAX_MESSAGE_BYTES) {
    return messageTooLong(raw.length);
  }
  const recipients = to.length + cc.length + bcc.length;
  if (recipients === 0) {
    // SES would read the recipients from the headers instead; the relay must always
    // pass the envelope (Bcc exists nowhere else), so forgetting it should fail here.
    return badRequest('Destination lists no recipient; the local SES endpoint does not read recipients from the message headers.');
  }
  if (recipients > MAX_RECIPIENTS) {
    return badRequest(`Recipient count exceeds ${MAX_RECIPIENTS}.`);
  }
  for (const tag of tags) {
    for (const [part, text] of [['name', tag.Name], ['value', tag.Value]] as const) {
      if (!TAG_TEXT.test(text) || (part === 'name' && text === '')) {
        return badRequest(`Invalid tag ${part} <${text}>: only alphanumeric ASCII characters, '_', and '-' are allowed.`);
      }
      if (text.length > MAX_TAG_LENGTH) {
        return badRequest(`Invalid tag ${part} <${text}>: it must contain ${MAX_TAG_LENGTH} characters or fewer.`);
      }
    }
  }
  return {
    from: FromEmailAddress,
    to,
    cc,
    bcc,
    configurationSet: ConfigurationSetName,
    tags: tags.map((tag) => ({ name: tag.Name, value: tag.Value })),
    raw,
    region: region.toUpperCase(),
  };
}

function describeMessage(input: SendEmailInput, headers: IncomingHttpHeaders): SesMessageRecord {
  const now = Date.now();
  return {
    messageId: newMessageId(now),
    receivedAt: new Date(now).toISOString(),
    from: input.from,
    destinations: [...input.to, ...input.cc, ...input.bcc],
    to: input.to,
    cc: input.cc,
    bcc: input.bcc,
    configurationSet: input.configurationSet,
    tags: input.tags,
    size: input.raw.length,
    sdkInvocationId: headerText(headers['amz-sdk-invocation-id']),
    sdkAttempt: headerText(headers['amz-sdk-request']),
  };
}

/**
 * Writes the .eml, then the .json, each under a temporary name renamed into place,
 * so that a reader who sees `<id>.json` finds a complete `<id>.eml` beside it. The
 * temporary names start with a dot and end in `.tmp`: no `*.eml`/`*.json` match.
 */
async function storeInOutbox(dir: string, record: SesMessageRecord, raw: Buffer): Promise<void> {
  const id = record.messageId;
  const eml = join(dir, `${id}.eml`);
  const emlTemp = join(dir, `.${id}.eml.tmp`);
  const json = join(dir, `${id}.json`);
  const jsonTemp = join(dir, `.${id}.json.tmp`);
  try {
    await writeFile(emlTemp, raw, { flag: 'wx' });
    await rename(emlTemp, eml);
    await writeFile(jsonTemp, `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx' });
    await rename(jsonTemp, json);
  } catch (error) {
    await Promise.all([emlTemp, eml, jsonTemp].map((path) => rm(path, { force: true })));
    throw error;
  }
}

/** SES message ids look like `0100018c4f2b9a1e-<uuid>-000000`: a region prefix, the time in ms as hex, a uuid, a suffix. */
function newMessageId(now: number): string {
  return `0100${now.toString(16).padStart(12, '0')}-${randomUUID()}-000000`;
}

/** Buffer.from(text, 'base64') skips any garbage silently; SES refuses it, so check the alphabet and padding first. */
function decodeBase64Strictly(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || /[^A-Za-z0-9+/=]/.test(text)) {
    return undefined;
  }
  const padding = text.indexOf('=');
  if (padding !== -1 && (padding < text.length - 2 || (padding === text.length - 2 && !text.endsWith('=')))) {
    return undefined;
  }
  return Buffer.from(text, 'base64');
}

function messageTooLong(size: number): SesError {
  return { status: 400, code: 'MessageRejected', message: `Message length is more than ${MAX_MESSAGE_BYTES} bytes long: '${size}'.` };
}

function badRequest(message: string): SesError {
  return { status: 400, code: 'BadRequestException', message };
}

function serializationError(message: string): SesError {
  return { status: 400, code: 'SerializationException', message };
}

function headerText(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every(isString);
}

function isTagList(value: unknown): value is { Name: string; Value: string }[] {
  return Array.isArray(value) && value.every((tag) => isRecord(tag) && isString(tag.Name) && isString(tag.Value));
}

function isOptional<T>(value: unknown, is: (value: unknown) => value is T): value is T | undefined {
  return value === undefined || is(value);
}
