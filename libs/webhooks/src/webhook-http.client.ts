import * as dns from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { addressRefusal, plainHttpRefusal, type AllowedNetworks } from './webhook-address-policy.js';

/** The outcome of one POST: a response (any status), or why there was none. */
export type WebhookResponse =
  | {
      kind: 'response';
      statusCode: number;
      headers: Record<string, string | undefined>;
      /** At most `maxResponseBytes` of the body, decoded as UTF-8 (a cut character is dropped). */
      body: string;
      latencyMs: number;
    }
  | {
      kind: 'error';
      /**
       * e.g. {@link DESTINATION_NOT_ALLOWED}, `timeout after 5000 ms`, `ECONNREFUSED`. Stored as the
       * delivery's `last_error` and returned by the API: it never holds an address a name resolved to.
       */
      error: string;
      /** True when the SSRF guard refused the address: no connection was made. */
      blocked: boolean;
      latencyMs: number;
    };

/** Resolves a host name to every address it has, as `dns.lookup(host, { all: true })` does. */
export type WebhookResolver = (hostname: string) => Promise<dns.LookupAddress[]>;

/** One delivery attempt: where, what, and the limits that keep a bad receiver from holding a worker. */
export interface PostWebhookInput {
  url: string;
  /** Usually the signature headers; `content-type` and `content-length` are always set here. */
  headers: Record<string, string>;
  body: string;
  /** Budget for everything: DNS, connect, TLS, sending, the status line and the body read. */
  timeoutMs: number;
  maxResponseBytes: number;
  allowed: AllowedNetworks;
  /** DNS resolution; the system resolver by default. Every address it returns is checked. */
  resolve?: WebhookResolver;
}

/** Sent with every request so a receiver can tell webhook traffic apart in its logs. */
export const WEBHOOK_USER_AGENT = 'email-loop-webhooks/1';

/**
 * The one text of every SSRF refusal at delivery time. It names neither the address nor its range:
 * the text is stored and shown to whoever registered the URL, and an address that a name resolved
 * to would turn webhooks into a probe of internal DNS (which names exist, what they point at).
 */
export const DESTINATION_NOT_ALLOWED = 'destination_not_allowed: the URL resolves to a private or reserved address';

/** The refusal of a plain `http://` delivery to a host outside the allowed networks (no address either). */
export const PLAIN_HTTP_NOT_ALLOWED = 'destination_not_allowed: http:// is allowed only to hosts inside WEBHOOK_ALLOWED_NETWORKS; use https://';

/** A refusal by the SSRF guard; typed so that `blocked` never depends on error text. */
class WebhookAddressRefusedError extends Error {
  readonly code = 'webhook.address_refused';
  readonly retriable = true;
}

class WebhookTimeoutError extends Error {
  readonly code = 'webhook.timeout';
  readonly retriable = true;
}

/** The system resolver (`dns.lookup`, every address): what deliveries use unless given another. */
export const systemWebhookResolver: WebhookResolver = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/**
 * POSTs one webhook with the SSRF guard applied to the address actually connected to, and never
 * throws: every failure is a `kind: 'error'` result.
 *
 * - The guard runs inside the socket's `lookup`, after DNS, on every address the name resolves
 *   to, so a name that resolves to a public address at registration and to 10.0.0.1 later
 *   (DNS rebinding) is refused; an IP-literal host, which Node connects to without a lookup, is
 *   checked before the request. A name with any refused address is refused as a whole.
 * - Redirects are never followed (`node:http` does not), the whole exchange is bounded by
 *   `timeoutMs`, and at most `maxResponseBytes` of the body are read before the socket is closed.
 * - One connection per delivery (`agent: false`): nothing is pooled between receivers, and a
 *   closed socket is never handed to the next delivery.
 *
 * Why not `request-filtering-agent`: it would do the same check (it also relies on ipaddr.js),
 * but it reports a refusal as a plain `Error` told apart only by its message text, it logs a
 * "Invalid CIDR" warning on every request whose address family differs from an allow-list entry
 * (ipaddr.js throws when matching IPv4 against IPv6, which it catches and warns about), and it
 * judges IPv4-mapped IPv6 addresses differently from the registration check. Our own `lookup`
 * applies `isAddressAllowed` — the one policy of this lib — at both points.
 */
export async function postWebhook(input: PostWebhookInput): Promise<WebhookResponse> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const refused = (error = DESTINATION_NOT_ALLOWED): WebhookResponse => ({ kind: 'error', error, blocked: true, latencyMs: elapsed() });

  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    return { kind: 'error', error: 'invalid URL', blocked: false, latencyMs: elapsed() };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { kind: 'error', error: `scheme ${url.protocol} is not http: or https:`, blocked: true, latencyMs: elapsed() };
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const plainHttp = url.protocol === 'http:';
  if (isIP(host) !== 0) {
    if (addressRefusal(host, input.allowed) !== undefined) return refused();
    if (plainHttp && plainHttpRefusal([host], input.allowed) !== undefined) return refused(PLAIN_HTTP_NOT_ALLOWED);
  }

  return new Promise<WebhookResponse>((resolve) => {
    let settled = false;
    /** Set once the status line arrived: the receiver's answer stands even if its body then stalls or breaks. */
    let answered: (() => void) | undefined;
    const finish = (result: WebhookResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
      // Discards whatever the receiver still sends; nothing is reused, so closing is free.
      request.destroy();
    };
    const fail = (error: unknown): void => {
      // A 2xx whose body times out or is cut is still a 2xx: retrying it would send the event again.
      if (answered) answered();
      else if (error instanceof WebhookAddressRefusedError) finish(refused(error.message));
      else finish({ kind: 'error', error: describeError(error), blocked: false, latencyMs: elapsed() });
    };

    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request({
      method: 'POST',
      host,
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: {
        'user-agent': WEBHOOK_USER_AGENT,
        ...input.headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(input.body)),
      },
      agent: false,
      lookup: guardedLookup(input.allowed, input.resolve ?? systemWebhookResolver, plainHttp),
    });
    const timer = setTimeout(() => fail(new WebhookTimeoutError(`timeout after ${input.timeoutMs} ms`)), input.timeoutMs);

    request.on('error', fail);
    request.on('response', (response) => {
      const decoder = new StringDecoder('utf8');
      let body = '';
      let remaining = input.maxResponseBytes;
      const done = (): void =>
        finish({
          kind: 'response',
          statusCode: response.statusCode ?? 0,
          headers: flattenHeaders(response.headers),
          // PostgreSQL text cannot hold U+0000 (a gzip or binary body has some): storing the
          // attempt would fail and the delivery be retried after a 2xx.
          body: body.replaceAll('\u0000', '\uFFFD'),
          latencyMs: elapsed(),
        });
      answered = done;
      response.on('error', fail);
      response.on('end', done);
      response.on('data', (chunk: Buffer) => {
        if (settled) return;
        const part = chunk.subarray(0, remaining);
        body += decoder.write(part);
        remaining -= part.length;
        if (remaining <= 0) done();
      });
      if (remaining <= 0) done();
    });
    request.end(input.body);
  });
}

/**
 * A `lookup` for `net.connect` that resolves the name and refuses the
 * connection unless all of them pass `isAddressAllowed`; the socket then connects only to
 * addresses that were checked. Honors `all` (Node's happy-eyeballs asks for every address).
 */
function guardedLookup(allowed: AllowedNetworks, resolveName: WebhookResolver, plainHttp: boolean): LookupFunction {
  return (hostname, options, callback) => {
    resolveName(hostname).then(
      (resolved) => {
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
        const addresses = resolved.filter((a) => family === 0 || a.family === family);
        // The error carries no address: see DESTINATION_NOT_ALLOWED.
        if (addresses.some(({ address }) => addressRefusal(address, allowed) !== undefined)) return callback(new WebhookAddressRefusedError(DESTINATION_NOT_ALLOWED), '');
        // Checked again at delivery: a name registered inside the allowed networks may point elsewhere since.
        if (plainHttp && addresses.length > 0 && plainHttpRefusal(addresses.map((a) => a.address), allowed) !== undefined) {
          return callback(new WebhookAddressRefusedError(PLAIN_HTTP_NOT_ALLOWED), '');
        }
        const first = addresses[0];
        if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
        if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}

function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string | undefined> {
  const flat: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  return flat;
}

/**
 * The error's code (`ECONNREFUSED`, `ENOTFOUND`…) with its message when that adds something,
 * with every IP address in it masked: Node's socket errors name the address connected to
 * (`connect ECONNREFUSED 10.1.2.3:80`), which for an allowed private network is an internal one.
 */
function describeError(error: unknown): string {
  if (error instanceof WebhookTimeoutError) return error.message;
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  if (typeof code !== 'string') return maskAddresses(text) || 'request failed';
  return text === '' || text.includes(code) ? code : `${code}: ${maskAddresses(text)}`;
}

// Runs of the characters an IPv4 or IPv6 address (with brackets, zone or port) is made of.
const ADDRESS_LIKE = /[0-9A-Fa-f:.[\]%]{2,}/g;

/** `text` with every IPv4 and IPv6 address (with or without a port) replaced by `[address]`. */
export function maskAddresses(text: string): string {
  return text.replace(ADDRESS_LIKE, (token) => {
    // A sentence's full stop or a label's colon after the address stays.
    const trail = /[.:]*$/.exec(token)![0];
    const bare = token.slice(0, token.length - trail.length).replace(/^\[/, '').replace(/\](:\d+)?$/, '');
    return isIP(bare) !== 0 || isIP(bare.replace(/:\d+$/, '')) !== 0 ? `[address]${trail}` : token;
  });
}
