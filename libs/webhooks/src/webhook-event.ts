import { z } from 'zod';
import { EMAIL_EVENT_TYPES, categorySchema, emailAddressSchema, emailEventDetailSchema, metadataSchema } from '@app/contracts';

/**
 * The event types an endpoint can subscribe to: every email status event, and
 * `recipient.unsubscribed` (a recipient used the one-click unsubscribe link of a bulk email).
 */
export const WEBHOOK_EVENT_TYPES = [...EMAIL_EVENT_TYPES, 'recipient.unsubscribed'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * What a webhook says about one email: the status it reached and the facts of the event that
 * moved it there. `eventId` is the id of the `mail.events` fact, so a receiver can drop a repeat.
 */
export interface WebhookEventData {
  emailId: string;
  status: string;
  eventId: string;
  attempt?: number;
  messageId?: string;
  smtpResponse?: string;
  smtpCode?: number;
  reason?: string;
  /** Recipients the SMTP server refused while accepting the message for the others. */
  rejectedRecipients?: string[];
  /** When the mailer tries again (on `email.retrying`). */
  nextAttemptAt?: string;
  /** The `metadata` of the email request, echoed unchanged so a receiver can correlate. */
  metadata?: Record<string, string>;
  /** `recipient.unsubscribed`: who opted out (lower-case); `status` is then `unsubscribed`. */
  address?: string;
  /** `recipient.unsubscribed`: the category opted out of; absent: every category. */
  category?: string;
}

/** The JSON body of every webhook request. `timestamp` is when the event occurred (ISO 8601). */
export interface WebhookEvent {
  type: WebhookEventType;
  timestamp: string;
  data: WebhookEventData;
}

const detail = emailEventDetailSchema.shape;

/**
 * Runtime shape of a webhook body, as a receiver checks it. Unknown keys are kept rather than
 * refused: a sender that adds a field must not break receivers built against an older version.
 */
export const webhookEventSchema = z.looseObject({
  type: z.enum(WEBHOOK_EVENT_TYPES),
  timestamp: z.iso.datetime({ offset: true }),
  data: z.looseObject({
    emailId: z.string().min(1),
    status: z.string().min(1),
    eventId: z.string().min(1),
    attempt: detail.attempt,
    messageId: detail.messageId,
    smtpResponse: detail.smtpResponse,
    smtpCode: detail.smtpCode,
    reason: detail.reason,
    rejectedRecipients: detail.rejectedRecipients,
    nextAttemptAt: detail.nextAttemptAt,
    metadata: metadataSchema.optional(),
    address: emailAddressSchema.optional(),
    category: categorySchema.optional(),
  }),
});
