import { describe, expect, it } from 'vitest';
import type { WebhookResponse } from './webhook-http.client.js';
import { classifyWebhookResponse, MAX_RETRY_AFTER_MS, parseRetryAfter } from './webhook-verdict.js';

const now = new Date('2026-03-01T12:00:00Z');
const response = (statusCode: number, headers: Record<string, string> = {}): WebhookResponse => ({ kind: 'response', statusCode, headers, body: '', latencyMs: 3 });

describe('classifyWebhookResponse', () => {
  it.each([200, 201, 202, 204, 299])('%i is delivered', (status) => {
    expect(classifyWebhookResponse(response(status), now)).toEqual({ outcome: 'delivered' });
  });

  it('410 means the endpoint is gone', () => {
    expect(classifyWebhookResponse(response(410), now)).toMatchObject({ outcome: 'gone' });
  });

  it('a redirect is retried, not followed, and the reason names the location', () => {
    expect(classifyWebhookResponse(response(301, { location: 'https://new.example.com/hook' }), now)).toEqual({
      outcome: 'retry',
      reason: 'HTTP 301 redirect to https://new.example.com/hook not followed',
    });
  });

  it.each([400, 401, 404, 408, 413, 500, 502, 504])('%i is retried without a server-given delay', (status) => {
    expect(classifyWebhookResponse(response(status, { 'retry-after': '30' }), now)).toEqual({ outcome: 'retry', reason: `HTTP ${status}` });
  });

  it('429 and 503 honour Retry-After in seconds or as an HTTP-date', () => {
    expect(classifyWebhookResponse(response(429, { 'retry-after': '120' }), now)).toMatchObject({ outcome: 'retry', retryAfterMs: 120_000 });
    expect(classifyWebhookResponse(response(503, { 'retry-after': 'Sun, 01 Mar 2026 12:05:00 GMT' }), now)).toMatchObject({
      outcome: 'retry',
      retryAfterMs: 300_000,
    });
    expect(classifyWebhookResponse(response(429), now)).toEqual({ outcome: 'retry', reason: 'HTTP 429' });
  });

  it('network errors and addresses refused by the guard are retried', () => {
    expect(classifyWebhookResponse({ kind: 'error', error: 'ECONNREFUSED', blocked: false, latencyMs: 1 }, now)).toEqual({ outcome: 'retry', reason: 'ECONNREFUSED' });
    expect(classifyWebhookResponse({ kind: 'error', error: 'refused: 10.0.0.1 is in the private range', blocked: true, latencyMs: 1 }, now)).toEqual({
      outcome: 'retry',
      reason: 'refused: 10.0.0.1 is in the private range',
    });
  });
});

describe('parseRetryAfter', () => {
  it('caps a long ask at 24 h and turns a past date into 0', () => {
    expect(parseRetryAfter('999999', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Wed, 01 Jan 2031 00:00:00 GMT', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Sat, 28 Feb 2026 12:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('0', now)).toBe(0);
  });

  it.each([undefined, '', '  ', '-1', '1.5', '12abc', 'soon', '2026-03-01', 'Mon, 99 Foo 2026'])('ignores %j', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
