import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { listeningUrl } from './listening-url.js';

export interface PublicListenerOptions {
  /** The public port (`PUBLIC_PORT`); undefined: no public listener, the gate lets everything through. */
  port?: number;
  /** Address it binds to (`PUBLIC_HOST`). */
  host: string;
  /**
   * Path prefixes served on the public port, e.g. `/v1/unsubscribe/`; every other path answers
   * `404 not_found` there. Each must start and end with `/`, so `/v1/unsubscribe/` cannot match
   * `/v1/unsubscribed-list`.
   */
  routes: readonly string[];
}

export const PUBLIC_LISTENER_OPTIONS = Symbol('PUBLIC_LISTENER_OPTIONS');

/** An internet client must not hold a connection open to trickle its headers or body (slowloris). */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

type Next = (error?: unknown) => void;

/** `/./`, `/../` (also at the end), percent-encoded `.`, `/` or `\`, or a raw backslash. */
const SUSPICIOUS_PATH = /\/\.{1,2}(?:\/|$)|%2e|%2f|%5c|\\/i;

/**
 * A second HTTP port over the same Nest app, serving only the routes listed in
 * {@link PublicListenerOptions.routes}: what mailbox providers and recipients must reach from the
 * internet, so the API port can stay on a private network.
 *
 * Invariants:
 * - A request that arrived on the public port reaches a controller only if its raw path starts
 *   with a listed prefix; {@link gate} answers anything else `404 not_found` before routing, body
 *   parsing or CORS (it is registered right after helmet, see `applyHttpEdge`). The raw `req.url`
 *   is compared, not a decoded or case-folded path, so no spelling of a private path gets through.
 * - The main port is not affected: it keeps serving every route, the public ones included.
 * - `app.close()` (and so SIGTERM) closes this port too, just before Nest closes the main one,
 *   destroying its open connections as `forceCloseConnections` does for the main port; in the
 *   meantime both answer `503` (`return503OnClosing` lives on the shared Express instance).
 */
@Injectable()
export class PublicListener implements BeforeApplicationShutdown {
  /** Requests that came in through the public port (the same objects Express routes). */
  private readonly viaPublic = new WeakSet<IncomingMessage>();
  private server?: Server;

  constructor(
    @Inject(PUBLIC_LISTENER_OPTIONS) private readonly options: PublicListenerOptions,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    for (const route of options.routes) {
      if (!route.startsWith('/') || !route.endsWith('/')) throw new Error(`PublicListener: route prefix "${route}" must start and end with /`);
    }
  }

  /** Express middleware: on the public port, `404` unless the path is public; elsewhere a no-op. */
  readonly gate = (request: IncomingMessage, response: ServerResponse, next: Next): void => {
    if (!this.viaPublic.has(request) || this.isPublicPath(request.url ?? '')) {
      next();
      return;
    }
    // The same body ApiExceptionFilter gives an unknown route, written here because the request
    // never reaches Nest: nothing of the private API runs for it.
    response.statusCode = 404;
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.setHeader('Cache-Control', 'no-store');
    response.end(JSON.stringify({ error: { code: 'not_found', message: 'not found' } }));
  };

  /** Starts the public port when one is configured; resolves with its URL, or undefined. */
  async listen(): Promise<string | undefined> {
    const { port, host } = this.options;
    if (port === undefined) return undefined;
    const app = this.adapterHost.httpAdapter.getInstance<(req: IncomingMessage, res: ServerResponse) => void>();
    const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
      this.viaPublic.add(request);
      app(request, response);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return listeningUrl(server.address() as AddressInfo);
  }

  /** The bound address, once listening (port 0 picks a free one). */
  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  async beforeApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Like forceCloseConnections on the main port: kept-alive and in-flight connections are cut,
    // or a client could hold the shutdown open.
    server.closeAllConnections();
    await closed;
  }

  private isPublicPath(url: string): boolean {
    const path = url.split('?', 1)[0] as string;
    // Dot segments and encoded separators are never part of a public route: refusing them keeps
    // the prefix test the whole decision, whatever a router or a proxy would make of them.
    if (SUSPICIOUS_PATH.test(path)) return false;
    return this.options.routes.some((prefix) => path.startsWith(prefix));
  }
}
