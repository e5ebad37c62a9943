import { Catch, HttpException, HttpStatus, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import {
  DomainError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  StateConflictError,
  UnauthenticatedError,
  UnprocessableRequestError,
  type FieldError,
} from './errors.js';
import { classifyDatabaseError } from './database-errors.js';
import { redactSecrets } from './redaction.js';

/** Seconds a client is told to wait before retrying a request refused because a dependency is away. */
const RETRY_AFTER_SECONDS = 5;

interface ErrorBody {
  error: { code: string; message: string; fields?: readonly FieldError[]; details?: Readonly<Record<string, string>> };
}

/**
 * The one place where errors become HTTP status codes, by error class (see `errors.ts`), for
 * both apps. Every error response has the shape
 * `{ error: { code, message, fields? } }`.
 *
 * A request refused because a dependency is unreachable (the database down or restarting, a
 * retriable domain error) is a `503` with `Retry-After`, never a `500`: clients, SDKs and load
 * balancers retry a 503, and a 500 pages someone for what is an outage, not a bug.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(ApiExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const [status, body] = this.toResponse(exception);
    if (exception instanceof UnauthenticatedError) response.setHeader('WWW-Authenticate', 'Bearer');
    if (exception instanceof RateLimitedError) response.setHeader('Retry-After', String(exception.retryAfterSeconds));
    if (status === HttpStatus.SERVICE_UNAVAILABLE) {
      response.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
      this.logger.warn(redactSecrets(`503 ${body.error.code}: ${exception instanceof Error ? exception.message : String(exception)}`));
    } else if (status >= 500) {
      // A driver's error can quote a connection string: the log gets it without credentials.
      this.logger.error(redactSecrets(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception)));
    }
    response.status(status).json(body);
  }

  private toResponse(exception: unknown): [number, ErrorBody] {
    if (exception instanceof InvalidInputError) {
      return [HttpStatus.BAD_REQUEST, { error: { code: exception.code, message: exception.message, fields: exception.fieldErrors } }];
    }
    if (exception instanceof UnauthenticatedError) {
      return [HttpStatus.UNAUTHORIZED, { error: { code: exception.code, message: exception.message } }];
    }
    if (exception instanceof ForbiddenError) {
      return [HttpStatus.FORBIDDEN, { error: { code: exception.code, message: exception.message, ...(exception.details && { details: exception.details }) } }];
    }
    if (exception instanceof RateLimitedError) {
      return [HttpStatus.TOO_MANY_REQUESTS, { error: { code: exception.code, message: exception.message } }];
    }
    if (exception instanceof NotFoundError) {
      return [HttpStatus.NOT_FOUND, { error: { code: exception.code, message: exception.message } }];
    }
    if (exception instanceof StateConflictError) {
      return [HttpStatus.CONFLICT, { error: { code: exception.code, message: exception.message, ...(exception.details && { details: exception.details }) } }];
    }
    if (exception instanceof PayloadTooLargeError) {
      return [HttpStatus.PAYLOAD_TOO_LARGE, { error: { code: exception.code, message: exception.message, fields: exception.fieldErrors } }];
    }
    if (exception instanceof UnprocessableRequestError) {
      return [HttpStatus.UNPROCESSABLE_ENTITY, { error: { code: exception.code, message: exception.message } }];
    }
    if (exception instanceof DomainError && exception.retriable) {
      return [HttpStatus.SERVICE_UNAVAILABLE, { error: { code: exception.code, message: exception.message } }];
    }
    const databaseFailure = classifyDatabaseError(exception);
    if (databaseFailure === 'unavailable' || databaseFailure === 'transient') {
      const message = databaseFailure === 'unavailable' ? 'the database is unavailable; retry later' : 'a concurrent change got in the way; retry';
      return [HttpStatus.SERVICE_UNAVAILABLE, { error: { code: `database_${databaseFailure}`, message } }];
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      // body-parser's errors (malformed JSON, body too large) arrive wrapped, with a `type`.
      const type = (exception.cause as { type?: unknown } | undefined)?.type;
      const code = typeof type === 'string' ? type.replaceAll('.', '_') : httpCode(status);
      return [status, { error: { code, message: exception.message } }];
    }
    return [HttpStatus.INTERNAL_SERVER_ERROR, { error: { code: 'internal_error', message: 'internal error' } }];
  }
}

function httpCode(status: number): string {
  return (HttpStatus[status] ?? 'error').toLowerCase();
}
