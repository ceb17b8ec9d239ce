/**
 * What SES's mailbox simulator does with a message, as the events SES would
 * publish through a configuration set's EventBridge destination: each event
 * an EventBridge envelope (`source: aws.ses`, `detail-type`) around SES's own
 * event-publishing record (`eventType`, `mail`, `bounce`, ...).
 *
 * Simulator addresses (at simulator.amazonses.com, with or without a
 * `+label`): `success` is delivered; `bounce` hard-bounces (550 5.1.1);
 * `ooto` is delivered (the out-of-office reply is mail, not an event);
 * `complaint` is delivered and then complained about; `suppressionlist`
 * hard-bounces as suppressed. Any other recipient is delivered: the stand-in
 * plays a world where every other mailbox exists.
 *
 * Locally every message gets events, configuration set or not: the stand-in
 * plays a relay whose configuration sets all have the EventBridge destination.
 */
import { randomUUID } from 'node:crypto';
import type { EventBridgeSesEvent } from '../../lambda/reputation-handler.ts';
import { EVENTBRIDGE_DETAIL_TYPES, type ReputationEventType } from '../../lambda/ses-event.ts';

export const SIMULATOR_DOMAIN = 'simulator.amazonses.com';
const LOCAL_ACCOUNT = '000000000000';

export interface SimulatedMessage {
  readonly messageId: string;
  readonly receivedAt: string;
  readonly from?: string;
  readonly destinations: readonly string[];
  readonly configurationSet?: string;
  readonly tags: readonly { readonly name: string; readonly value: string }[];
  readonly raw: Buffer;
  /** Region the request was signed for, as SES names it in ARNs. */
  readonly region: string;
}

type Outcome = 'delivered' | 'bounced' | 'complained' | 'suppressed';

/** The mailbox simulator's outcome for one recipient. */
export function simulatorOutcome(recipient: string): Outcome {
  const at = recipient.lastIndexOf('@');
  if (recipient.slice(at + 1).toLowerCase() !== SIMULATOR_DOMAIN) return 'delivered';
  const mailbox = recipient.slice(0, at).toLowerCase().split('+')[0];
  switch (mailbox) {
    case 'bounce':
      return 'bounced';
    case 'complaint':
      return 'complained';
    case 'suppressionlist':
      return 'suppressed';
    default:
      return 'delivered';
  }
}

/** Every event SES would publish for the message, in the order SES would: Send, then each recipient's outcome. */
export function simulatedEvents(message: SimulatedMessage): EventBridgeSesEvent[] {
  const sentAt = Date.parse(message.receivedAt);
  const later = (ms: number) => new Date(sentAt + ms).toISOString();
  const mail = mailObject(message);
  const event = (type: ReputationEventType, own: Record<string, unknown>, at: string): EventBridgeSesEvent & Record<string, unknown> => ({
    version: '0',
    id: randomUUID(),
    'detail-type': EVENTBRIDGE_DETAIL_TYPES[type],
    source: 'aws.ses',
    account: LOCAL_ACCOUNT,
    time: at,
    region: message.region.toLowerCase(),
    resources: message.configurationSet ? [`arn:aws:ses:${message.region.toLowerCase()}:${LOCAL_ACCOUNT}:configuration-set/${message.configurationSet}`] : [],
    detail: { eventType: type, mail, ...own },
  });
  const events = [event('Send', { send: {} }, message.receivedAt)];
  message.destinations.forEach((recipient, index) => {
    const at = later(200 + index);
    const feedbackId = `${message.messageId.slice(0, 16)}-${randomUUID()}-000000`;
    const delivery = () =>
      event('Delivery', { delivery: { timestamp: at, processingTimeMillis: 200, recipients: [recipient], smtpResponse: '250 2.6.0 Message received', reportingMTA: 'a8-1.smtp-out.amazonses.com' } }, at);
    switch (simulatorOutcome(recipient)) {
      case 'delivered':
        events.push(delivery());
        break;
      case 'complained':
        events.push(delivery());
        events.push(
          event('Complaint', { complaint: { complainedRecipients: [{ emailAddress: recipient }], timestamp: later(1_000 + index), feedbackId, complaintFeedbackType: 'abuse', userAgent: 'Amazon SES Mailbox Simulator' } }, later(1_000 + index)),
        );
        break;
      case 'bounced':
      case 'suppressed': {
        const suppressed = simulatorOutcome(recipient) === 'suppressed';
        events.push(
          event(
            'Bounce',
            {
              bounce: {
                bounceType: 'Permanent',
                bounceSubType: suppressed ? 'Suppressed' : 'General',
                bouncedRecipients: [
                  suppressed
                    ? { emailAddress: recipient, action: 'failed', status: '5.1.1', diagnosticCode: 'Amazon SES has suppressed sending to this address because it has a recent history of bouncing as an invalid address.' }
                    : { emailAddress: recipient, action: 'failed', status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 user unknown' },
                ],
                timestamp: at,
                feedbackId,
                reportingMTA: 'dns; amazonses.com',
              },
            },
            at,
          ),
        );
        break;
      }
    }
  });
  return events;
}

function mailObject(message: SimulatedMessage): Record<string, unknown> {
  const fromDomain = message.from?.split('@')[1];
  const tags: Record<string, string[]> = {
    ...Object.fromEntries(message.tags.map((tag) => [tag.name, [tag.value]])),
    // SES's automatic tags; a request tag cannot replace them.
    ...(message.configurationSet ? { 'ses:configuration-set': [message.configurationSet] } : {}),
    'ses:caller-identity': ['local'],
    'ses:source-ip': ['127.0.0.1'],
    ...(fromDomain ? { 'ses:from-domain': [fromDomain] } : {}),
  };
  const messageIdHeader = headerValue(message.raw, 'message-id');
  return {
    timestamp: message.receivedAt,
    source: message.from ?? '',
    sendingAccountId: LOCAL_ACCOUNT,
    messageId: message.messageId,
    destination: message.destinations,
    headersTruncated: false,
    commonHeaders: { ...(messageIdHeader ? { messageId: messageIdHeader } : {}) },
    tags,
  };
}

/** A header field's unfolded value from the message's header section (first occurrence). */
function headerValue(raw: Buffer, name: string): string | undefined {
  const end = raw.indexOf('\r\n\r\n');
  const header = raw.subarray(0, end < 0 ? raw.length : end).toString('utf8').replace(/\r\n[ \t]+/g, ' ');
  for (const line of header.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) return line.slice(colon + 1).trim();
  }
  return undefined;
}
