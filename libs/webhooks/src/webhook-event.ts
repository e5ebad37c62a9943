import { z } from 'zod';
import { EMAIL_EVENT_TYPES, emailEventDetailSchema, metadataSchema, type EmailEventType } from '@app/contracts';

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
}

/** The JSON body of every webhook request. `timestamp` is when the event occurred (ISO 8601). */
export interface WebhookEvent {
  type: EmailEventType;
  timestamp: string;
  data: WebhookEventData;
}

const detail = emailEventDetailSchema.shape;

/**
 * Runtime shape of a webhook body, as a receiver checks it. Unknown keys are kept rather than
 * refused: a sender that adds a field must not break receivers built against an older version.
 */
export const webhookEventSchema = z.looseObject({
  type: z.enum(EMAIL_EVENT_TYPES),
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
  }),
});
