import type { EmailEventType } from './email-event.js';

/** Every status an email can have, as the business side reports it. */
export const EMAIL_STATUSES = [
  'queued',
  'accepted',
  'scheduled',
  'retrying',
  'sent',
  'failed',
  'expired',
  'unknown',
  'canceled',
  'rejected',
  'deduplicated',
  'suppressed',
] as const;
export type EmailStatus = (typeof EMAIL_STATUSES)[number];

/**
 * Statuses nothing can leave. `unknown` is not among them: reconciliation moves it on to `sent`
 * or `failed` (or a resend does). `canceled`, `rejected` (a check of the mailer refused it),
 * `deduplicated` (the same mail was sent within the window) and `suppressed` (the address is on
 * the suppression list) end an email without an SMTP attempt.
 */
export const TERMINAL_STATUSES: ReadonlySet<EmailStatus> = new Set(['sent', 'failed', 'expired', 'canceled', 'rejected', 'deduplicated', 'suppressed']);

/**
 * Progress order. An event applies only if it moves the email forward: a late or repeated event
 * never moves an email backwards. `retrying` events are ordered by attempt.
 */
const RANK: Record<EmailStatus, number> = {
  queued: 0,
  accepted: 1,
  scheduled: 2,
  retrying: 3,
  unknown: 4,
  sent: 5,
  failed: 5,
  expired: 5,
  canceled: 5,
  rejected: 5,
  deduplicated: 5,
  suppressed: 5,
};

export const STATUS_OF_EVENT: Record<EmailEventType, EmailStatus> = {
  'email.accepted': 'accepted',
  'email.retrying': 'retrying',
  'email.sent': 'sent',
  'email.failed': 'failed',
  'email.expired': 'expired',
  'email.unknown': 'unknown',
  'email.scheduled': 'scheduled',
  'email.canceled': 'canceled',
  'email.rejected': 'rejected',
  'email.deduplicated': 'deduplicated',
  'email.suppressed': 'suppressed',
};

export interface StatusPosition {
  status: EmailStatus;
  attempt: number;
}

/** Whether moving from `current` to `next` is progress (and so should be applied). */
export function isForwardTransition(current: StatusPosition, next: StatusPosition): boolean {
  if (TERMINAL_STATUSES.has(current.status)) return false;
  const from = RANK[current.status];
  const to = RANK[next.status];
  if (to !== from) return to > from;
  // Same rank: a later attempt's retry, e.g. retrying(1) → retrying(2).
  return next.attempt > current.attempt;
}
