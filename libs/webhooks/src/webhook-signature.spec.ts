import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { WebhookEvent } from './webhook-event.js';
import { generateWebhookSecret, signWebhook, verifyWebhook, WebhookVerificationError } from './webhook-signature.js';

const event: WebhookEvent = {
  type: 'email.sent',
  timestamp: '2026-03-01T12:00:00.000Z',
  data: {
    emailId: '5b1f3c9e-8a47-4d2b-9f61-2c3d4e5f6a7b',
    status: 'sent',
    eventId: 'a3c1e2f4-1b2c-4d5e-8f90-112233445566',
    attempt: 1,
    messageId: '<5b1f3c9e@mail.example.com>',
    smtpResponse: '250 2.0.0 OK queued',
    smtpCode: 250,
    metadata: { orderId: '42' },
  },
};
const body = JSON.stringify(event);

function signedNow(secrets: string[], at = new Date()) {
  return signWebhook({ id: 'msg_2b3c4d', timestamp: at, body, secrets });
}

describe('generateWebhookSecret', () => {
  it('is whsec_ + base64 of 32 random bytes, and differs each time', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
  });
});

describe('signWebhook', () => {
  it('sets the id, the timestamp in whole seconds and one v1 signature per secret', () => {
    const headers = signWebhook({ id: 'msg_1', timestamp: new Date('2026-03-01T12:00:00.999Z'), body, secrets: [generateWebhookSecret(), generateWebhookSecret()] });
    expect(headers['webhook-id']).toBe('msg_1');
    expect(headers['webhook-timestamp']).toBe('1772366400');
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$/);
  });

  it('refuses to sign without a secret', () => {
    expect(() => signWebhook({ id: 'msg_1', timestamp: new Date(), body, secrets: [] })).toThrow(RangeError);
  });
});

describe('verification by the reference library (standardwebhooks)', () => {
  it('accepts our signature', () => {
    const secret = generateWebhookSecret();
    expect(new Webhook(secret).verify(body, signedNow([secret]))).toEqual(event);
  });

  it('accepts a rotation header with either the old or the new secret, and refuses a third', () => {
    const [oldSecret, newSecret] = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = signedNow([oldSecret, newSecret]);
    expect(new Webhook(oldSecret).verify(body, headers)).toEqual(event);
    expect(new Webhook(newSecret).verify(body, headers)).toEqual(event);
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow('No matching signature found');
  });

  it('refuses a tampered body and a tampered id', () => {
    const secret = generateWebhookSecret();
    const headers = signedNow([secret]);
    expect(() => new Webhook(secret).verify(body.replace('"sent"', '"failed"'), headers)).toThrow('No matching signature found');
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'msg_other' })).toThrow('No matching signature found');
  });
});

describe('verifyWebhook', () => {
  const secret = generateWebhookSecret();

  it('round-trips: returns the typed event from a string or a Buffer body', () => {
    const headers = signedNow([secret]);
    expect(verifyWebhook(body, headers, secret)).toEqual(event);
    expect(verifyWebhook(Buffer.from(body), headers, secret)).toEqual(event);
  });

  it('reads fetch Headers and Node IncomingMessage-style headers (any case, signature lines as an array)', () => {
    const other = generateWebhookSecret();
    const headers = signedNow([other, secret]);
    expect(verifyWebhook(body, new Headers(headers), secret)).toEqual(event);
    const [first, second] = headers['webhook-signature'].split(' ');
    const incoming = { 'Webhook-Id': headers['webhook-id'], 'webhook-timestamp': headers['webhook-timestamp'], 'webhook-signature': [first!, second!], host: 'x' };
    expect(verifyWebhook(body, incoming, secret)).toEqual(event);
  });

  it('throws WebhookVerificationError on a bad signature, a missing header or a repeated id', () => {
    const headers = signedNow([generateWebhookSecret()]);
    expect(() => verifyWebhook(body, headers, secret)).toThrow(WebhookVerificationError);
    const { 'webhook-signature': _omitted, ...unsigned } = signedNow([secret]);
    expect(() => verifyWebhook(body, unsigned, secret)).toThrow(WebhookVerificationError);
    const good = signedNow([secret]);
    expect(() => verifyWebhook(body, { ...good, 'webhook-id': ['a', 'b'] }, secret)).toThrow(WebhookVerificationError);
  });

  it('refuses a stale timestamp (library window) and one outside a tighter tolerance', () => {
    const tenMinutesAgo = signedNow([secret], new Date(Date.now() - 10 * 60_000));
    expect(() => verifyWebhook(body, tenMinutesAgo, secret)).toThrow(WebhookVerificationError);
    const twoMinutesAgo = signedNow([secret], new Date(Date.now() - 2 * 60_000));
    expect(verifyWebhook(body, twoMinutesAgo, secret)).toEqual(event);
    expect(() => verifyWebhook(body, twoMinutesAgo, secret, { toleranceSeconds: 60 })).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(body, twoMinutesAgo, secret, { toleranceSeconds: 600 })).toThrow(RangeError);
  });

  it('refuses a correctly signed body that is not a webhook event', () => {
    const payload = JSON.stringify({ type: 'email.exploded', timestamp: event.timestamp, data: event.data });
    const headers = signWebhook({ id: 'msg_1', timestamp: new Date(), body: payload, secrets: [secret] });
    expect(() => verifyWebhook(payload, headers, secret)).toThrow(WebhookVerificationError);
  });

  it('keeps fields it does not know, so a newer sender does not break an older receiver', () => {
    const payload = JSON.stringify({ ...event, data: { ...event.data, region: 'eu' } });
    const headers = signWebhook({ id: 'msg_1', timestamp: new Date(), body: payload, secrets: [secret] });
    expect(verifyWebhook(payload, headers, secret).data).toMatchObject({ region: 'eu', emailId: event.data.emailId });
  });
});
