import { Controller, Get, Header, Headers, HttpCode, HttpStatus, Param, Post, Res, UseFilters } from '@nestjs/common';
import { Public } from '@app/auth';
import type { Response } from 'express';
import { UnsubscribeService } from '@app/email';
import { UnsubscribePageFilter } from './unsubscribe-page.filter.js';
import { confirmationPage, unsubscribedPage } from './unsubscribe-pages.js';

/**
 * One-click unsubscribe (RFC 8058) for the links the email module signs into bulk mail.
 *
 * - `POST /v1/unsubscribe/:token` is what a mailbox provider sends when the recipient clicks
 *   "Unsubscribe" (body `List-Unsubscribe=One-Click`, form-encoded): no login, no redirect, `200`.
 *   The body is not read: the signed token is the whole authority, and the RFC allows both form
 *   encodings; so the confirmation page's form posts the same way.
 * - `GET /v1/unsubscribe/:token` (the link opened in a browser) only shows a page with a confirm
 *   button: scanners and previews follow GETs, so a GET never unsubscribes.
 *
 * A token that does not verify is a `404` and records nothing (`unsubscribe_link_invalid` as JSON,
 * or a page saying so for a browser: `UnsubscribePageFilter`). The token travels in the URL, so
 * the pages are never cached and never send a referrer.
 */
@Controller('v1/unsubscribe')
@Public()
@UseFilters(UnsubscribePageFilter)
export class UnsubscribeController {
  constructor(private readonly unsubscribes: UnsubscribeService) {}

  @Get(':token')
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  @Header('Referrer-Policy', 'no-referrer')
  @Header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
  @Header('X-Robots-Tag', 'noindex')
  confirm(@Param('token') token: string): string {
    return confirmationPage(this.unsubscribes.check(token));
  }

  /** A browser (the confirmation page's form) gets a page; a mailbox provider or an API client gets JSON. */
  @Post(':token')
  @HttpCode(HttpStatus.OK)
  @Header('Cache-Control', 'no-store')
  @Header('Referrer-Policy', 'no-referrer')
  async unsubscribe(
    @Param('token') token: string,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<string | { status: 'unsubscribed'; category: string | null }> {
    const result = await this.unsubscribes.unsubscribe(token);
    if (accept?.includes('text/html')) {
      response.type('html');
      response.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
      const [only, ...others] = result.addresses;
      return unsubscribedPage({ address: others.length === 0 ? only : undefined, category: result.category ?? undefined });
    }
    return { status: 'unsubscribed', category: result.category };
  }
}
