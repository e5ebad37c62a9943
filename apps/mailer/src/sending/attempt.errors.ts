import { DomainError } from '@app/common';

/**
 * Another worker's attempt at this email is still within its lease: it may be talking SMTP right
 * now. Sending too would send twice; the job waits until the lease has run out and looks again.
 */
export class AttemptInProgressError extends DomainError {
  readonly code = 'attempt_in_progress';
  readonly retriable = true;

  constructor(
    readonly emailId: string,
    readonly attempt: number,
  ) {
    super(`email ${emailId}: attempt ${attempt} is still in progress elsewhere (its lease has not run out)`);
  }
}

/**
 * The job ran before the email is due: a scheduled email before its `send_at`, or a retry before
 * the `nextAttemptAt` its `email.retrying` event announced (a job made without its delay, e.g.
 * again for a redelivered request, or one a clock ran ahead for). Sending now would send early.
 * The job waits until `dueAt`.
 */
export class NotDueYetError extends DomainError {
  readonly code = 'not_due_yet';
  readonly retriable = true;

  constructor(
    readonly emailId: string,
    readonly dueAt: Date,
    readonly what: 'scheduled' | 'retry' = 'scheduled',
  ) {
    super(`email ${emailId}: ${what === 'scheduled' ? 'scheduled for' : 'next attempt announced for'} ${dueAt.toISOString()}: not due yet`);
  }
}
