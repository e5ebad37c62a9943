import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { webhookEventSchema, type WebhookEvent } from './webhook-event.js';

export { WebhookVerificationError };

/** The header names of the Standard Webhooks spec, in the order a sender sets them. */
export type WebhookSignatureHeaders = Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string>;

/** Headers as Node's `IncomingMessage.headers` gives them, or as a plain record. */
export type IncomingWebhookHeaders = Record<string, string | string[] | undefined> | Headers;

/**
 * The verification window of `standardwebhooks` (5 minutes, fixed in the library). A receiver
 * may tighten it, never widen it.
 */
export const MAX_WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

const SECRET_PREFIX = 'whsec_';

/**
 * A new endpoint secret: `whsec_` + base64 of 32 random bytes, the format `standardwebhooks`
 * (and every Standard Webhooks library) accepts, so receivers paste it as it is.
 */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/**
 * The three Standard Webhooks headers for one request. Every secret signs, so during a rotation
 * (old and new secret both valid) a receiver that knows either one accepts the request; the
 * signatures are space-separated `v1,<base64>` as the spec says. `id` must stay the same across
 * retries of one delivery: receivers deduplicate by it.
 */
export function signWebhook(input: { id: string; timestamp: Date; body: string; secrets: string[] }): WebhookSignatureHeaders {
  if (input.secrets.length === 0) throw new RangeError('signWebhook needs at least one secret');
  // The HMAC is the library's (`Webhook.sign`); nothing here computes a signature by hand.
  const signatures = input.secrets.map((secret) => new Webhook(secret).sign(input.id, input.timestamp, input.body));
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(Math.floor(input.timestamp.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}

/**
 * What a receiver calls on each request: checks the signature and the timestamp with
 * `standardwebhooks`, then parses and checks the body. Pass the raw body exactly as received (a
 * re-serialised JSON object does not verify). Throws `WebhookVerificationError` on a missing
 * header, a bad signature, a timestamp outside the window or a body that is not a webhook event.
 *
 * `toleranceSeconds` can only narrow the library's fixed 5-minute window (a `RangeError` above it).
 */
export function verifyWebhook(
  body: string | Buffer,
  headers: IncomingWebhookHeaders,
  secret: string,
  options: { toleranceSeconds?: number } = {},
): WebhookEvent {
  const tolerance = options.toleranceSeconds ?? MAX_WEBHOOK_TOLERANCE_SECONDS;
  if (!(tolerance >= 0 && tolerance <= MAX_WEBHOOK_TOLERANCE_SECONDS)) {
    throw new RangeError(`toleranceSeconds must be between 0 and ${MAX_WEBHOOK_TOLERANCE_SECONDS}`);
  }
  const flat = flattenHeaders(headers);
  if (tolerance < MAX_WEBHOOK_TOLERANCE_SECONDS) {
    const sentAt = Number.parseInt(flat['webhook-timestamp'] ?? '', 10);
    if (Number.isFinite(sentAt) && Math.abs(Date.now() / 1000 - sentAt) > tolerance) {
      throw new WebhookVerificationError('Message timestamp outside the tolerance');
    }
  }
  const parsed = new Webhook(secret).verify(body, flat);
  const event = webhookEventSchema.safeParse(parsed);
  if (!event.success) throw new WebhookVerificationError(`Invalid payload: ${event.error.issues[0]?.message ?? 'not a webhook event'}`);
  return event.data as WebhookEvent;
}

/**
 * One string per header, lower-cased. Repeated `webhook-signature` lines are joined with a space
 * (each carries signatures of the same message); a repeated id or timestamp is ambiguous and refused.
 */
function flattenHeaders(headers: IncomingWebhookHeaders): Record<string, string> {
  const names = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;
  const flat: Record<string, string> = {};
  if (isFetchHeaders(headers)) {
    for (const name of names) {
      const value = headers.get(name);
      if (value !== null) flat[name] = value;
    }
    return flat;
  }
  const lower: Record<string, string | string[] | undefined> = {};
  for (const [key, value] of Object.entries(headers)) lower[key.toLowerCase()] = value;
  for (const name of names) {
    const value = lower[name];
    if (value === undefined) continue;
    if (typeof value === 'string') flat[name] = value;
    else if (name === 'webhook-signature') flat[name] = value.join(' ');
    else if (value.length === 1) flat[name] = value[0]!;
    else throw new WebhookVerificationError(`Repeated ${name} header`);
  }
  return flat;
}

function isFetchHeaders(headers: IncomingWebhookHeaders): headers is Headers {
  return typeof (headers as Headers).get === 'function' && typeof (headers as Headers).forEach === 'function';
}
