import type { INestApplication } from '@nestjs/common';
import helmet from 'helmet';
import type { PublicListener } from './public-listener.js';

export interface HttpEdgeOptions {
  /** Origins allowed cross-origin (`CORS_ORIGINS`); empty: CORS off. */
  corsOrigins: readonly string[];
  /** The business app's public port: its gate runs right after the security headers. */
  publicListener?: PublicListener;
}

/**
 * Request headers a browser client of the API may send cross-origin: the API key, the JSON body's
 * type and the idempotency key of `POST /v1/emails`.
 */
const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key'];
/** Response headers such a client may read: how long to wait after a 429 or 503. */
const CORS_EXPOSED_HEADERS = ['Retry-After'];

/**
 * What every response of an app passes through, in this order (call before `init()`):
 *
 * 1. helmet 8 (the maintained set of security headers: nosniff, HSTS, frame and referrer
 *    policies, no `X-Powered-By`), with a Content-Security-Policy for a JSON API: load nothing,
 *    be framed by no one. The unsubscribe pages, the only HTML, set their own, wider CSP on their
 *    routes (inline style, a form that posts to itself), which replaces this one.
 * 2. The public listener's gate, so a private path on the public port is a bare 404 (no CORS
 *    preflight answer, no body parsing).
 * 3. CORS, only with configured origins (the `cors` package, through Nest's `enableCors`): exact
 *    origins, no credentials (the API key travels in `Authorization`, not in cookies). Without
 *    it no `Access-Control-*` header is sent and browsers refuse cross-origin calls.
 */
export function applyHttpEdge(app: INestApplication, options: HttpEdgeOptions): void {
  app.use(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    }),
  );
  if (options.publicListener) app.use(options.publicListener.gate);
  if (options.corsOrigins.length > 0) {
    app.enableCors({
      origin: [...options.corsOrigins],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      credentials: false,
      maxAge: 600,
    });
  }
}
