import type { EmailEventType } from './email-event.js';

/** Every status an email can have, as the business side reports it. */
export const EMAIL_STATUSES = [
  'queued',
  'accepted',
  'sending',
  'retrying',
  'sent',
  'failed',
  'expired',
  'unknown',
] as const;
export type EmailStatus = (typeof EMAIL_STATUSES)[number];

/**
 * Statuses nothing can leave. `unknown` is not among them: reconciliation moves it on to `sent`
 * or `failed` (or a resend does).
 */
export const TERMINAL_STATUSES: ReadonlySet<EmailStatus> = new Set(['sent', 'failed', 'expired']);

/**
 * Progress order. An event applies only if it moves the email forward: a late or repeated event
 * never moves an email backwards. `sending` and `retrying` share a rank and are ordered by attempt.
 */
const RANK: Record<EmailStatus, number> = {
  queued: 0,
  accepted: 1,
  sending: 2,
  retrying: 2,
  unknown: 3,
  sent: 4,
  failed: 4,
  expired: 4,
};

export const STATUS_OF_EVENT: Record<EmailEventType, EmailStatus> = {
  'email.accepted': 'accepted',
  'email.sending': 'sending',
  'email.retrying': 'retrying',
  'email.sent': 'sent',
  'email.failed': 'failed',
  'email.expired': 'expired',
  'email.unknown': 'unknown',
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
  // Same rank: only attempts of the same phase can be ordered, e.g. retrying(1) → sending(2).
  return next.attempt > current.attempt || (next.attempt === current.attempt && current.status === 'sending' && next.status === 'retrying');
}
