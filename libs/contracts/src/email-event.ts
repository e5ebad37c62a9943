import { z } from 'zod';
import { CONTRACT_VERSION } from './email-request.js';

/**
 * Event types on `mail.events`, named `domain.verb`. There is no `email.sending`: the start of an
 * attempt is not published (see docs/guarantees/holes.md); `email.retrying` and the final events
 * carry the attempt number.
 */
export const EMAIL_EVENT_TYPES = [
  'email.accepted',
  'email.retrying',
  'email.sent',
  'email.failed',
  'email.expired',
  /** An attempt may or may not have been delivered (crash during the SMTP hand-off); held for reconciliation. */
  'email.unknown',
  /** Accepted with a `sendAt` in the future: waits for its time (`detail.sendAt`). */
  'email.scheduled',
  /** Cancelled (`DELETE /v1/emails/:id`) before it was handed to SMTP. */
  'email.canceled',
  /** Refused by one of the mailer's checks; `detail.code` says which (a stable code). */
  'email.rejected',
  /** The same recipient, template and data were sent within the dedup window: not sent again. */
  'email.deduplicated',
  /** A recipient is on the suppression list (bounced, unsubscribed): no SMTP attempt. */
  'email.suppressed',
] as const;
export type EmailEventType = (typeof EMAIL_EVENT_TYPES)[number];

export const emailEventDetailSchema = z.strictObject({
  attempt: z.number().int().min(0).optional(),
  messageId: z.string().max(998).optional(),
  smtpResponse: z.string().max(2000).optional(),
  smtpCode: z.number().int().min(200).max(599).optional(),
  reason: z.string().max(2000).optional(),
  /** Recipients the SMTP server refused while accepting the message for the others. */
  rejectedRecipients: z.array(z.string().max(254)).max(150).optional(),
  nextAttemptAt: z.iso.datetime({ offset: true }).optional(),
  /** Why a check refused or ended the email, as a stable machine-readable code (e.g. `frequency_cap`). */
  code: z.string().regex(/^[a-z][a-z0-9_]*$/).max(64).optional(),
  /** When a scheduled email is due. */
  sendAt: z.iso.datetime({ offset: true }).optional(),
  /**
   * True when an earlier attempt of this email may already have been delivered (it sent the whole
   * message and its outcome was never confirmed) and this one sends, or will send, it again with
   * the same `Message-ID`: receivers can drop the second copy by that id.
   */
  possibleDuplicate: z.boolean().optional(),
});
export type EmailEventDetail = z.infer<typeof emailEventDetailSchema>;

/** Kafka payload on `mail.events`: one fact about one email, identified by `eventId`. */
export const emailEventMessageSchema = z.strictObject({
  version: z.literal(CONTRACT_VERSION),
  eventId: z.uuid(),
  type: z.enum(EMAIL_EVENT_TYPES),
  emailId: z.uuid(),
  occurredAt: z.iso.datetime({ offset: true }),
  detail: emailEventDetailSchema,
});
export type EmailEventMessage = z.infer<typeof emailEventMessageSchema>;
