import { Catch, HttpStatus, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { InvalidUnsubscribeLinkError } from '@app/email';
import { invalidLinkPage } from './unsubscribe-pages.js';

/**
 * The confirmation page is opened by a person in a browser: a link that does not verify gets a
 * page saying so (still `404`, as `ApiExceptionFilter` maps `NotFoundError`), not a JSON error.
 * Every other error goes to the app's `ApiExceptionFilter`.
 */
@Catch(InvalidUnsubscribeLinkError)
export class UnsubscribePageFilter implements ExceptionFilter {
  catch(_error: InvalidUnsubscribeLinkError, host: ArgumentsHost): void {
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(HttpStatus.NOT_FOUND)
      .type('html')
      .setHeader('Cache-Control', 'no-store')
      .setHeader('Referrer-Policy', 'no-referrer')
      .setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
      .send(invalidLinkPage());
  }
}
