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
  ) {}

  /** Resolves with SES's message id, or rejects with an SmtpError. */
  async send(message: OutgoingMessage): Promise<string> {
    const command = new SendEmailCommand({
      ...(message.from ? { FromEmailAddress: message.from } : {}),
      Destination: { ToAddresses: [...message.recipients] },
      Content: { Raw: { Data: message.raw } },
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
