import { createHash } from 'node:crypto';
import { z } from 'zod';
import { RELAY_USER_TAG } from './policy-contract.ts';

/**
 * SES's sending events as the reputation function takes them: the `detail` of
 * an EventBridge event from a configuration set's EventBridge destination
 * (source `aws.ses`), which is SES's event-publishing record (`eventType`,
 * `mail`, and one object named after the type). Only what the reputation
 * guard uses is read; everything else SES adds is let through unread.
 */

/** The event types the configuration set publishes to the reputation function. */
export const REPUTATION_EVENT_TYPES = ['Send', 'Delivery', 'Bounce', 'Complaint', 'Reject', 'DeliveryDelay'] as const;
export type ReputationEventType = (typeof REPUTATION_EVENT_TYPES)[number];

/** EventBridge `detail-type` of each SES event type (the EventBridge events reference for SES). */
export const EVENTBRIDGE_DETAIL_TYPES: Readonly<Record<ReputationEventType, string>> = {
  Send: 'Email Sent',
  Delivery: 'Email Delivered',
  Bounce: 'Email Bounced',
  Complaint: 'Email Complaint Received',
  Reject: 'Email Rejected',
  DeliveryDelay: 'Email Delivery Delayed',
};

const isoTime = z.string().refine((text) => !Number.isNaN(Date.parse(text)), 'must be an ISO time');
const recipients = z.array(z.object({ emailAddress: z.string() }).loose());

const mailSchema = z
  .object({
    messageId: z.string().min(1).max(200),
    timestamp: isoTime,
    destination: z.array(z.string()).default([]),
    commonHeaders: z.object({ messageId: z.string().optional() }).loose().optional(),
    tags: z.record(z.string(), z.array(z.string())).default({}),
  })
  .loose();

const detailSchema = z
  .object({
    eventType: z.enum(REPUTATION_EVENT_TYPES),
    mail: mailSchema,
    bounce: z
      .object({ bounceType: z.string(), bounceSubType: z.string().optional(), bouncedRecipients: recipients, timestamp: isoTime, feedbackId: z.string().optional() })
      .loose()
      .optional(),
    complaint: z
      .object({ complainedRecipients: recipients, timestamp: isoTime, feedbackId: z.string().optional(), complaintFeedbackType: z.string().optional() })
      .loose()
      .optional(),
    delivery: z.object({ recipients: z.array(z.string()), timestamp: isoTime, smtpResponse: z.string().optional() }).loose().optional(),
    deliveryDelay: z
      .object({ delayType: z.string().optional(), delayedRecipients: recipients, timestamp: isoTime })
      .loose()
      .optional(),
    reject: z.object({ reason: z.string().optional() }).loose().optional(),
  })
  .loose();

/** One SES event, reduced to what reputation and the message trail need. */
export interface SesDeliveryEvent {
  readonly type: ReputationEventType;
  /** SES's message id. */
  readonly sesMessageId: string;
  /** When SES accepted the message: every event of one message is counted in that hour. */
  readonly sentAt: string;
  /** When this event happened (the Send and Reject events have no time of their own: sentAt). */
  readonly occurredAt: string;
  /** The `relay-user` tag, if the message carried one. */
  readonly userId?: string;
  /** The `Message-ID` header of the message, if SES saw one. */
  readonly messageIdHeader?: string;
  readonly configurationSet?: string;
  /** Every recipient of the message (`mail.destination`). */
  readonly destination: readonly string[];
  /** The recipients this event is about. */
  readonly recipients: readonly string[];
  /** For bounces: hard (`Permanent`) or soft (`Transient`, `Undetermined`). */
  readonly bounce?: 'hard' | 'soft';
  /** Short human text: bounce type and subtype, complaint type, SMTP response, reject reason. */
  readonly detail?: string;
  /**
   * The event's identity: a SHA-256 over the message id, type, the event's own
   * time, feedback id and recipients. SES publishes at least once and
   * EventBridge redelivers with the same content, sometimes under a new
   * EventBridge id, so the content is what makes two deliveries one event.
   */
  readonly key: string;
}

export class InvalidSesEventError extends Error {
  constructor(problem: string) {
    super(`not an SES sending event: ${problem}`);
    this.name = 'InvalidSesEventError';
  }
}

/** Reads the `detail` of an EventBridge SES event; throws InvalidSesEventError for anything else. */
export function parseSesEvent(detail: unknown): SesDeliveryEvent {
  const parsed = detailSchema.safeParse(detail);
  if (!parsed.success) throw new InvalidSesEventError(parsed.error.issues.map((issue) => issue.path.join('.') || issue.message).join(', '));
  const { eventType: type, mail } = parsed.data;
  const own = ownPart(parsed.data);
  if (own === undefined && type !== 'Send' && type !== 'Reject') throw new InvalidSesEventError(`${type} event without its ${lowerFirst(type)} object`);
  const tag = (name: string) => mail.tags[name]?.[0];
  const occurredAt = own?.timestamp ?? mail.timestamp;
  const eventRecipients = own?.recipients ?? mail.destination;
  return {
    type,
    sesMessageId: mail.messageId,
    sentAt: new Date(mail.timestamp).toISOString(),
    occurredAt: new Date(occurredAt).toISOString(),
    ...(tag(RELAY_USER_TAG) ? { userId: tag(RELAY_USER_TAG) } : {}),
    ...(mail.commonHeaders?.messageId ? { messageIdHeader: mail.commonHeaders.messageId } : {}),
    ...(tag('ses:configuration-set') ? { configurationSet: tag('ses:configuration-set') } : {}),
    destination: mail.destination,
    recipients: eventRecipients,
    ...(own?.bounce ? { bounce: own.bounce } : {}),
    ...(own?.detail ? { detail: own.detail } : {}),
    key: createHash('sha256')
      .update(JSON.stringify([mail.messageId, type, occurredAt, own?.feedbackId ?? '', [...eventRecipients].sort()]))
      .digest('base64url'),
  };
}

type Detail = z.infer<typeof detailSchema>;

interface OwnPart {
  readonly timestamp: string;
  readonly recipients: readonly string[];
  readonly feedbackId?: string;
  readonly bounce?: 'hard' | 'soft';
  readonly detail?: string;
}

/** The event's own object (`bounce`, `complaint`, ...), reduced. */
function ownPart(detail: Detail): OwnPart | undefined {
  const addresses = (list: readonly { emailAddress: string }[]) => list.map((entry) => entry.emailAddress);
  switch (detail.eventType) {
    case 'Bounce': {
      const bounce = detail.bounce;
      if (!bounce) return undefined;
      return {
        timestamp: bounce.timestamp,
        recipients: addresses(bounce.bouncedRecipients),
        ...(bounce.feedbackId ? { feedbackId: bounce.feedbackId } : {}),
        // SES's reputation counts hard bounces only; Transient and Undetermined are soft.
        bounce: bounce.bounceType === 'Permanent' ? 'hard' : 'soft',
        detail: [bounce.bounceType, bounce.bounceSubType].filter(Boolean).join('/'),
      };
    }
    case 'Complaint': {
      const complaint = detail.complaint;
      if (!complaint) return undefined;
      return {
        timestamp: complaint.timestamp,
        recipients: addresses(complaint.complainedRecipients),
        ...(complaint.feedbackId ? { feedbackId: complaint.feedbackId } : {}),
        ...(complaint.complaintFeedbackType ? { detail: complaint.complaintFeedbackType } : {}),
      };
    }
    case 'Delivery':
      return detail.delivery
        ? { timestamp: detail.delivery.timestamp, recipients: detail.delivery.recipients, ...(detail.delivery.smtpResponse ? { detail: detail.delivery.smtpResponse } : {}) }
        : undefined;
    case 'DeliveryDelay':
      return detail.deliveryDelay
        ? { timestamp: detail.deliveryDelay.timestamp, recipients: addresses(detail.deliveryDelay.delayedRecipients), ...(detail.deliveryDelay.delayType ? { detail: detail.deliveryDelay.delayType } : {}) }
        : undefined;
    case 'Reject':
      return detail.reject?.reason ? { timestamp: detail.mail.timestamp, recipients: detail.mail.destination, detail: detail.reject.reason } : undefined;
    case 'Send':
      return undefined;
  }
}

function lowerFirst(text: string): string {
  return text[0]!.toLowerCase() + text.slice(1);
}
