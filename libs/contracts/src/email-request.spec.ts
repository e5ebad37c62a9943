import { describe, expect, it } from 'vitest';
import { emailRequestSchema, emailRequestedMessageSchema, mailRequestsTopicMessageSchema } from './email-request.js';

describe('emailRequestSchema', () => {
  it('normalises a single address to a list and defaults the lane', () => {
    const parsed = emailRequestSchema.parse({ to: 'a@example.com', subject: 'Hi', text: 'x' });
    expect(parsed).toEqual({ to: ['a@example.com'], subject: 'Hi', text: 'x', lane: 'transactional' });
  });

  it('names every bad field at once', () => {
    const result = emailRequestSchema.safeParse({ to: ['ok@example.com', 'bad'], cc: 'also bad', subject: '', text: 'x' });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['to.1', 'cc.0', 'subject']));
  });

  it.each([
    ['subject', { subject: 'Hi\nBcc: x@example.com' }],
    ['to', { to: 'a@example.com\r\nBcc: x@example.com' }],
    ['replyTo', { replyTo: 'a@example.com\nX: y' }],
  ])('refuses CR/LF in %s (header injection)', (field, patch) => {
    const result = emailRequestSchema.safeParse({ to: 'a@example.com', subject: 'Hi', text: 'x', ...patch });
    expect(result.error?.issues.map((i) => i.path[0])).toContain(field);
  });

  it('takes a category and tags, and refuses malformed ones', () => {
    const ok = emailRequestSchema.safeParse({ to: 'a@example.com', subject: 'Hi', text: 'x', category: 'newsletter', tags: ['welcome', 'campaign:2026-11'] });
    expect(ok.success).toBe(true);
    const bad = emailRequestSchema.safeParse({ to: 'a@example.com', subject: 'Hi', text: 'x', category: 'News Letter', tags: ['a b'] });
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['category', 'tags.0']));
  });

  it('takes a sendAt with an offset, and refuses one at or after expiresAt', () => {
    const base = { to: 'a@example.com', subject: 'Hi', text: 'x' };
    expect(emailRequestSchema.safeParse({ ...base, sendAt: '2026-11-24T10:00:00+01:00' }).success).toBe(true);
    expect(emailRequestSchema.safeParse({ ...base, sendAt: 'tomorrow' }).error?.issues.map((i) => i.path.join('.'))).toEqual(['sendAt']);
    const late = emailRequestSchema.safeParse({ ...base, sendAt: '2026-11-24T10:00:00Z', expiresAt: '2026-11-24T10:00:00Z' });
    expect(late.error?.issues).toEqual([expect.objectContaining({ path: ['sendAt'], message: expect.stringContaining('before expiresAt') })]);
    expect(emailRequestSchema.safeParse({ ...base, sendAt: '2026-11-24T10:00:00Z', expiresAt: '2026-11-24T11:00:00Z' }).success).toBe(true);
  });

  it('requires text or html', () => {
    expect(emailRequestSchema.safeParse({ to: 'a@example.com', subject: 'Hi' }).success).toBe(false);
    expect(emailRequestSchema.safeParse({ to: 'a@example.com', subject: 'Hi', html: '<p>x</p>' }).success).toBe(true);
  });

  it('takes a template with its version and data instead of literal content, never both', () => {
    const parsed = emailRequestSchema.parse({ to: 'a@example.com', template: 'welcome', version: 2, data: { name: 'Ada' } });
    expect(parsed).toEqual({ to: ['a@example.com'], template: 'welcome', version: 2, data: { name: 'Ada' }, lane: 'transactional' });
    const paths = (input: unknown) => emailRequestSchema.safeParse(input).error?.issues.map((i) => i.path.join('.'));
    expect(paths({ to: 'a@example.com', template: 'welcome', subject: 'Hi', html: '<p>x</p>' })).toEqual(['subject', 'html']);
    expect(paths({ to: 'a@example.com', subject: 'Hi', text: 'x', version: 1, data: {} })).toEqual(['version', 'data']);
    expect(paths({ to: 'a@example.com', text: 'x' })).toEqual(['subject']);
    expect(paths({ to: 'a@example.com', template: 'Welcome Mail', version: 0 })).toEqual(['template', 'version']);
  });

  it('limits recipients and metadata', () => {
    const to = Array.from({ length: 51 }, (_, i) => `u${i}@example.com`);
    expect(emailRequestSchema.safeParse({ to, subject: 'Hi', text: 'x' }).success).toBe(false);
    const metadata = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    expect(emailRequestSchema.safeParse({ to: 'a@example.com', subject: 'Hi', text: 'x', metadata }).success).toBe(false);
  });
});

describe('emailRequestedMessageSchema', () => {
  const valid = {
    version: 1,
    type: 'email.requested',
    emailId: '7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d',
    requestedAt: '2026-11-23T10:00:00.000Z',
    lane: 'bulk',
    to: ['a@example.com'],
    subject: 'Hi',
    text: 'x',
  };

  it('accepts a well-formed message', () => {
    expect(emailRequestedMessageSchema.safeParse(valid).success).toBe(true);
  });

  it('carries the template the content was rendered from', () => {
    expect(emailRequestedMessageSchema.safeParse({ ...valid, template: { name: 'welcome', version: 3 } }).success).toBe(true);
    expect(emailRequestedMessageSchema.safeParse({ ...valid, template: { name: 'welcome' } }).success).toBe(false);
  });

  it('carries an http(s) unsubscribe URL and refuses one that could break out of its header', () => {
    const url = 'https://mail.example.test/v1/unsubscribe/abc.def';
    expect(emailRequestedMessageSchema.safeParse({ ...valid, unsubscribeUrl: url }).success).toBe(true);
    for (const bad of ['javascript:alert(1)', `${url}>, <https://evil.test/x`, `${url}\r\nBcc: x@example.test`, 'not a url']) {
      expect(emailRequestedMessageSchema.safeParse({ ...valid, unsubscribeUrl: bad }).success, bad).toBe(false);
    }
  });

  it('rejects unknown versions and unknown fields', () => {
    expect(emailRequestedMessageSchema.safeParse({ ...valid, version: 2 }).success).toBe(false);
    expect(emailRequestedMessageSchema.safeParse({ ...valid, extra: true }).success).toBe(false);
  });
});

describe('mailRequestsTopicMessageSchema', () => {
  const emailId = '7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d';

  it('tells a request from a cancel by type', () => {
    const cancel = { version: 1, type: 'email.cancel_requested', emailId, lane: 'bulk', requestedAt: '2026-11-23T10:00:00.000Z' };
    expect(mailRequestsTopicMessageSchema.parse(cancel)).toEqual(cancel);
    const request = { version: 1, type: 'email.requested', emailId, requestedAt: '2026-11-23T10:00:00.000Z', lane: 'bulk', to: ['a@example.com'], subject: 'Hi', text: 'x' };
    expect(mailRequestsTopicMessageSchema.parse(request)).toEqual(request);
  });

  it('refuses an unknown type and a cancel with extra fields', () => {
    expect(mailRequestsTopicMessageSchema.safeParse({ version: 1, type: 'email.deleted', emailId, requestedAt: '2026-11-23T10:00:00.000Z' }).success).toBe(false);
    expect(mailRequestsTopicMessageSchema.safeParse({ version: 1, type: 'email.cancel_requested', emailId, lane: 'bulk', requestedAt: '2026-11-23T10:00:00.000Z', to: ['a@example.com'] }).success).toBe(false);
  });
});

describe('from', () => {
  const parse = (from: unknown) => emailRequestSchema.safeParse({ to: 'a@example.com', subject: 'Hi', text: 'x', from });

  it('takes an address, "Name" <address>, Name <address> and { name, address }', () => {
    expect(parse('news@shop.example').data?.from).toEqual({ address: 'news@shop.example' });
    expect(parse(' "Shop, Inc." <news@shop.example> ').data?.from).toEqual({ name: 'Shop, Inc.', address: 'news@shop.example' });
    expect(parse('Shop <news@shop.example>').data?.from).toEqual({ name: 'Shop', address: 'news@shop.example' });
    expect(parse('<news@shop.example>').data?.from).toEqual({ address: 'news@shop.example' });
    expect(parse({ name: 'Shop', address: 'news@shop.example' }).data?.from).toEqual({ name: 'Shop', address: 'news@shop.example' });
  });

  it.each([['Shop <a b@shop.example>'], ['"Sh"op" <news@shop.example>'], ['Sh<op <news@shop.example>'], ['"Shop\r\n" <news@shop.example>'], ['Shop news@shop.example>']])(
    'refuses %j',
    (from) => {
      expect(parse(from).success).toBe(false);
    },
  );

  // Found by the fuzz suite: the regular expression this replaced backtracked polynomially on a
  // run of spaces (4,000 took a minute), so one request could hold the business event loop.
  it('parses a long run of whitespace in linear time, and refuses it', () => {
    const started = performance.now();
    for (const from of [`${' '.repeat(2_000)}x`, `"${' '.repeat(2_000)}`, `${' '.repeat(2_000)}<${' '.repeat(2_000)}`]) {
      expect(parse(from).success).toBe(false);
    }
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
