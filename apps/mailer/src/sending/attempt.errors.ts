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
