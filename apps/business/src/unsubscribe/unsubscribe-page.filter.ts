import { Catch, HttpStatus, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiExceptionFilter } from '@app/common';
import { InvalidUnsubscribeLinkError, UnsubscribeLinkExpiredError } from '@app/email';
import { invalidLinkPage } from './unsubscribe-pages.js';

type UnsubscribeLinkError = InvalidUnsubscribeLinkError | UnsubscribeLinkExpiredError;

/**
 * A person in a browser (the confirmation page, or its form's POST) whose link does not work gets
 * a page saying so, with the `404` that `ApiExceptionFilter` gives `NotFoundError`s; an API client
 * or a mailbox provider gets that filter's JSON error, from the filter itself.
 */
@Catch(InvalidUnsubscribeLinkError, UnsubscribeLinkExpiredError)
export class UnsubscribePageFilter implements ExceptionFilter {
  private readonly api = new ApiExceptionFilter();

  catch(error: UnsubscribeLinkError, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    if (request.method !== 'GET' && !request.headers.accept?.includes('text/html')) {
      this.api.catch(error, host);
      return;
    }
    http
      .getResponse<Response>()
      .status(HttpStatus.NOT_FOUND)
      .type('html')
      .setHeader('Cache-Control', 'no-store')
      .setHeader('Referrer-Policy', 'no-referrer')
      .setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
      .send(invalidLinkPage(error instanceof UnsubscribeLinkExpiredError));
  }
}
