import { redactSecrets } from './redaction.js';

/**
 * Base class of every error this project raises on purpose.
 *
 * Callers classify errors by type and by `retriable`, never by message text: a queue or a
 * consumer retries a retriable error and dead-letters (or fails) a non-retriable one.
 */
export abstract class DomainError extends Error {
  /** Stable, machine-readable identifier, e.g. `email.invalid_request`. */
  abstract readonly code: string;
  /** Whether the same operation may succeed if simply tried again later. */
  abstract readonly retriable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One problem with one field of an input, in a form a client can act on. */
export interface FieldError {
  path: string;
  message: string;
}

/** Input that can never be accepted as it is (a body, a Kafka payload, a config). */
export class InvalidInputError extends DomainError {
  // A subclass may name the reason more precisely (e.g. `template_not_found`); it is still a 400.
  readonly code: string = 'invalid_input';
  readonly retriable = false;

  constructor(
    message: string,
    readonly fieldErrors: readonly FieldError[] = [],
  ) {
    super(message);
  }
}

/** The thing a request names does not exist (HTTP 404). */
export abstract class NotFoundError extends DomainError {
  readonly retriable = false;
}

/** The request conflicts with the current state of what it names (HTTP 409). */
export abstract class StateConflictError extends DomainError {
  readonly retriable = false;
  /** Machine-readable facts about that state for the client (e.g. `{ status: 'sent' }`), sent as `error.details`. */
  readonly details?: Readonly<Record<string, string>>;
}

/** The request is well-formed but contradicts an earlier one (HTTP 422), e.g. a reused idempotency key. */
export abstract class UnprocessableRequestError extends DomainError {
  readonly retriable = false;
}

/**
 * The request is too large to be accepted as it is (HTTP 413), e.g. an email above the broker's
 * message size. `fieldErrors` says what was measured and what the limit is.
 */
export abstract class PayloadTooLargeError extends DomainError {
  readonly retriable = false;

  constructor(
    message: string,
    readonly fieldErrors: readonly FieldError[] = [],
  ) {
    super(message);
  }
}

/** The request carries no valid credentials (HTTP 401, with `WWW-Authenticate: Bearer`). */
export class UnauthenticatedError extends DomainError {
  readonly code = 'unauthenticated';
  readonly retriable = false;
}

/**
 * The caller is known but may not do this (HTTP 403), e.g. its API key lacks a scope. `details`
 * names what is missing, e.g. `{ scope: 'emails:send' }`.
 */
export class ForbiddenError extends DomainError {
  readonly retriable = false;

  constructor(
    readonly code: string,
    message: string,
    readonly details?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

/** The caller sent more requests than its rate allows (HTTP 429 with `Retry-After`). */
export class RateLimitedError extends DomainError {
  readonly code = 'rate_limited';
  readonly retriable = false;

  constructor(
    message: string,
    /** Whole seconds until a request may succeed again. */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** A dependency (database, broker, SMTP server) failed in a way that may heal by itself. */
export class TransientError extends DomainError {
  readonly code = 'transient';
  readonly retriable = true;
}

/** True for errors that should be retried: our own retriable ones, or unknown infrastructure failures. */
export function isRetriable(error: unknown): boolean {
  if (error instanceof DomainError) return error.retriable;
  // An error we did not classify comes from infrastructure (driver, network): retry it rather
  // than drop work. Anything that can never succeed must be raised as a non-retriable DomainError.
  return true;
}

/** An error as one log line, with any credentials it quotes (a URL's userinfo) cut out. */
export function describeError(error: unknown): string {
  return redactSecrets(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}
