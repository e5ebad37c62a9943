import type { WebhookResponse } from './webhook-http.client.js';

/** What to do with a delivery after one attempt. */
export type DeliveryVerdict =
  | { outcome: 'delivered' }
  /** Try again; `retryAfterMs` is the receiver's own ask (Retry-After): wait at least that long. */
  | { outcome: 'retry'; retryAfterMs?: number; reason: string }
  /** The receiver says the endpoint is gone for good (410): disable it. */
  | { outcome: 'gone'; reason: string }
  | { outcome: 'failed'; reason: string };

/** Longest Retry-After honoured; a longer ask is shortened to this, not ignored. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * Classifies one attempt: any 2xx is delivered; 410 Gone disables the endpoint; everything else
 * is retried on the schedule, 429 and 503 with the receiver's Retry-After (delta-seconds or
 * HTTP-date, capped at 24 h, an unparseable value ignored). Redirects are never followed (the
 * target was not checked at registration), so a 3xx is a failed attempt that names the location.
 *
 * An address the SSRF guard refused at delivery time (`blocked`) is retried too, not failed at
 * once: DNS can point back to a public address (a misconfiguration being fixed), and an endpoint
 * that keeps resolving to a private address is disabled by the failing-for-too-long rule like
 * any other failing endpoint, without a second way to disable it here. `failed` is kept for
 * callers that decide so for other reasons.
 */
export function classifyWebhookResponse(response: WebhookResponse, now: Date): DeliveryVerdict {
  if (response.kind === 'error') return { outcome: 'retry', reason: response.error };
  const status = response.statusCode;
  if (status >= 200 && status < 300) return { outcome: 'delivered' };
  if (status === 410) return { outcome: 'gone', reason: 'HTTP 410 Gone' };
  if (status >= 300 && status < 400) {
    const location = response.headers['location'];
    return { outcome: 'retry', reason: `HTTP ${status} redirect${location ? ` to ${location}` : ''} not followed` };
  }
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(response.headers['retry-after'], now);
    if (retryAfterMs !== undefined) return { outcome: 'retry', retryAfterMs, reason: `HTTP ${status}, retry after ${retryAfterMs} ms` };
  }
  return { outcome: 'retry', reason: `HTTP ${status}` };
}

/** `Retry-After` (RFC 9110 §10.2.3) in ms from `now`, capped; undefined when absent or invalid. */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else if (/[a-z]/i.test(text)) ms = Date.parse(text) - now.getTime(); // an HTTP-date always names a day or month
  else return undefined;
  if (Number.isNaN(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
