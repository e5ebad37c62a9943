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
 * A scheduled email's job ran before its `send_at` (a job made without its delay, or one a clock
 * ran ahead for): sending now would send early. The job waits until the email is due.
 */
export class NotDueYetError extends DomainError {
  readonly code = 'not_due_yet';
  readonly retriable = true;

  constructor(
    readonly emailId: string,
    readonly sendAt: Date,
  ) {
    super(`email ${emailId} is scheduled for ${sendAt.toISOString()}: not due yet`);
  }
}
