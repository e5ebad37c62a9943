import { DomainError } from '@app/common';
import type { RecipientRefusal } from '../suppressions/hard-bounce.js';

/** The SMTP server refused the message for good (5xx): retrying cannot help. */
export class SmtpRejectedError extends DomainError {
  readonly code = 'smtp_rejected';
  readonly retriable = false;

  constructor(
    message: string,
    readonly smtpCode: number | undefined,
    readonly smtpResponse: string | undefined,
    /** Each recipient the server refused at RCPT TO, with its own reply (a hard bounce suppresses the address). */
    readonly refusedRecipients: readonly RecipientRefusal[] = [],
  ) {
    super(message);
  }
}

/** The hand-off failed in a way a later attempt may get through (4xx, connection, timeout). */
export class SmtpDeferredError extends DomainError {
  readonly code = 'smtp_deferred';
  readonly retriable = true;

  constructor(
    message: string,
    readonly smtpCode: number | undefined,
    readonly smtpResponse: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The whole message, the end-of-data `.` included, was written to the server and no reply to it
 * came (a timeout, or the connection dropped): the server may have accepted it. Not retriable as
 * such: a blind retry could deliver it twice, so the lane's `UNCONFIRMED_SEND_*` policy decides
 * (`hold`: `unknown` until reconciled; `resend`: the next attempt, marked as a possible duplicate).
 */
export class SmtpUnconfirmedError extends DomainError {
  readonly code = 'smtp_unconfirmed';
  readonly retriable = false;
  /** There was no reply: the fields exist for the callers that read them off every SMTP failure. */
  readonly smtpCode = undefined;
  readonly smtpResponse = undefined;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
