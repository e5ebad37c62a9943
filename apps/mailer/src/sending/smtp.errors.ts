import { DomainError } from '@app/common';

/** The SMTP server refused the message for good (5xx): retrying cannot help. */
export class SmtpRejectedError extends DomainError {
  readonly code = 'smtp_rejected';
  readonly retriable = false;

  constructor(
    message: string,
    readonly smtpCode: number | undefined,
    readonly smtpResponse: string | undefined,
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
