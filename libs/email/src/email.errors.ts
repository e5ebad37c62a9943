import { DomainError, NotFoundError, UnprocessableRequestError } from '@app/common';

/** The same `Idempotency-Key` was used before with a different request. */
export class IdempotencyKeyConflictError extends UnprocessableRequestError {
  readonly code = 'idempotency_key_conflict';

  constructor(readonly idempotencyKey: string) {
    super('this Idempotency-Key was already used with a different request');
  }
}

export class EmailNotFoundError extends NotFoundError {
  readonly code = 'email_not_found';

  constructor(readonly emailId: string) {
    super(`no email with id ${emailId}`);
  }
}

/** A status event names an email this service never created: it can never be applied. */
export class UnknownEmailEventError extends DomainError {
  readonly code = 'email_event_unknown_email';
  readonly retriable = false;

  constructor(readonly emailId: string) {
    super(`status event for unknown email ${emailId}`);
  }
}
