import { Catch, HttpException, HttpStatus, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError, InvalidInputError, type FieldError } from '@app/common';
import { EmailNotFoundError, IdempotencyKeyConflictError } from '@app/email';

interface ErrorBody {
  error: { code: string; message: string; fields?: readonly FieldError[] };
}

/**
 * The one place where errors become HTTP status codes. Every error response has the shape
 * `{ error: { code, message, fields? } }`.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(ApiExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const [status, body] = this.toResponse(exception);
    if (status >= 500) this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : exception);
    response.status(status).json(body);
  }

  private toResponse(exception: unknown): [number, ErrorBody] {
    if (exception instanceof InvalidInputError) {
      return [HttpStatus.BAD_REQUEST, { error: { code: exception.code, message: exception.message, fields: exception.fieldErrors } }];
    }
    if (exception instanceof IdempotencyKeyConflictError) {
      return [HttpStatus.UNPROCESSABLE_ENTITY, { error: { code: exception.code, message: exception.message } }];
    }
    if (exception instanceof EmailNotFoundError) {
      return [HttpStatus.NOT_FOUND, { error: { code: exception.code, message: exception.message } }];
    }
    if (exception instanceof DomainError && exception.retriable) {
      return [HttpStatus.SERVICE_UNAVAILABLE, { error: { code: exception.code, message: exception.message } }];
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      return [status, { error: { code: httpCode(status), message: exception.message } }];
    }
    // body-parser reports malformed JSON and oversized bodies with an HTTP status of its own.
    const bodyParserStatus = (exception as { status?: unknown; type?: unknown } | null)?.status;
    if (typeof bodyParserStatus === 'number' && bodyParserStatus >= 400 && bodyParserStatus < 500) {
      const type = String((exception as { type?: unknown }).type ?? 'bad_request');
      return [bodyParserStatus, { error: { code: type.replaceAll('.', '_'), message: (exception as Error).message } }];
    }
    return [HttpStatus.INTERNAL_SERVER_ERROR, { error: { code: 'internal_error', message: 'internal error' } }];
  }
}

function httpCode(status: number): string {
  return (HttpStatus[status] ?? 'error').toLowerCase();
}
