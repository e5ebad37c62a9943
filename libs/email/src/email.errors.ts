import { DomainError, NotFoundError, PayloadTooLargeError, StateConflictError, UnprocessableRequestError } from '@app/common';
import type { EmailStatus } from '@app/contracts';

/** The same `Idempotency-Key` was used before with a different request. */
export class IdempotencyKeyConflictError extends UnprocessableRequestError {
  readonly code = 'idempotency_key_conflict';

  constructor(readonly idempotencyKey: string) {
    super('this Idempotency-Key was already used with a different request');
  }
}

/**
 * The email fits every character limit, but the Kafka message the outbox relay would publish for
 * it is larger than the module's `maxMessageBytes`: the broker would reject it and the email
 * would stay `queued` for ever. Raised before anything is written.
 */
export class EmailTooLargeError extends PayloadTooLargeError {
  readonly code = 'email_too_large';

  constructor(
    /** Bytes of the Kafka record: the message's UTF-8 JSON plus the record allowance. */
    readonly sizeBytes: number,
    readonly maxBytes: number,
  ) {
    const detail = `the email is ${sizeBytes} bytes as a Kafka message (UTF-8 JSON); the limit is ${maxBytes} bytes`;
    super(`email too large: ${detail}`, [{ path: '(root)', message: detail }]);
  }
}

/**
 * `send()` was given an `EntityManager` that is not in a transaction: its writes would each
 * auto-commit, so the email could exist without its outbox row. A programming error, raised
 * before anything is written.
 */
export class EmailTransactionRequiredError extends DomainError {
  readonly code = 'email_transaction_required';
  readonly retriable = false;

  constructor() {
    super(
      'EmailClient.send() was given an EntityManager that is not in a transaction: pass the EntityManager ' +
        'of your transaction (dataSource.transaction(async (manager) => …)), or omit `manager` and send() ' +
        'opens a transaction of its own',
    );
  }
}

/** `EmailClient.get()` found no email with that id (never created, or deleted by retention). */
export class EmailNotFoundError extends NotFoundError {
  readonly code = 'email_not_found';

  constructor(readonly emailId: string) {
    super(`no email with id ${emailId}`);
  }
}

/** `EmailClient.cancel()` of an email that already ended (sent, failed, expired, canceled…): nothing left to cancel. */
export class EmailAlreadyFinalError extends StateConflictError {
  readonly code = 'email_already_final';
  override readonly details: Readonly<Record<string, string>>;

  constructor(
    readonly emailId: string,
    readonly status: EmailStatus,
  ) {
    super(`email ${emailId} is already ${status}: there is nothing left to cancel`);
    this.details = { status };
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
