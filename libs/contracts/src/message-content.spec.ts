import { describe, expect, it } from 'vitest';
import { emailRequestSchema, emailRequestedMessageSchema } from './email-request.js';
import { attachmentBytes, customHeaderRefusal, decodedBase64Bytes } from './message-content.js';

const base = { to: 'a@example.com', subject: 'Hi', text: 'x' };
const pdf = { filename: 'invoice.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.7 hello').toString('base64') };

/** The field paths of every issue a request raises, or [] when it is valid. */
function refusedPaths(patch: Record<string, unknown>): string[] {
  const result = emailRequestSchema.safeParse({ ...base, ...patch });
  return result.success ? [] : result.error.issues.map((i) => i.path.join('.'));
}

describe('attachments', () => {
  it('accepts files with a name, a MIME type and base64 content, inline ones with a contentId', () => {
    const logo = { filename: 'logo.png', contentType: 'image/png', content: 'iVBORw0KGgo=', contentId: 'logo@shop.example' };
    expect(refusedPaths({ attachments: [pdf, logo] })).toEqual([]);
  });

  it.each([
    ['a path', { filename: '../etc/passwd' }, 'attachments.0.filename'],
    ['a Windows path', { filename: 'C:\\boot.ini' }, 'attachments.0.filename'],
    ['a line break in the name', { filename: 'a\r\nX-Injected: yes.pdf' }, 'attachments.0.filename'],
    ['an empty name', { filename: '' }, 'attachments.0.filename'],
    ['a long name', { filename: `${'a'.repeat(252)}.pdf` }, 'attachments.0.filename'],
    ['..', { filename: '..' }, 'attachments.0.filename'],
    ['no MIME type', { contentType: 'pdf' }, 'attachments.0.contentType'],
    ['MIME parameters', { contentType: 'text/plain; charset=utf-8' }, 'attachments.0.contentType'],
    ['content that is not base64', { content: 'not base64!' }, 'attachments.0.content'],
    ['unpadded base64', { content: 'aGVsbG8' }, 'attachments.0.content'],
    ['a content id with spaces', { contentId: 'a b' }, 'attachments.0.contentId'],
    ['an unknown field', { path: '/etc/passwd' }, 'attachments.0'],
  ])('refuses %s', (_, patch, path) => {
    expect(refusedPaths({ attachments: [{ ...pdf, ...patch }] })).toEqual([path]);
  });

  it('refuses more than 10 attachments', () => {
    expect(refusedPaths({ attachments: Array.from({ length: 11 }, () => pdf) })).toEqual(['attachments']);
  });

  it('counts decoded bytes', () => {
    expect(decodedBase64Bytes(Buffer.alloc(10).toString('base64'))).toBe(10);
    expect(decodedBase64Bytes(Buffer.alloc(11).toString('base64'))).toBe(11);
    expect(decodedBase64Bytes(Buffer.alloc(12).toString('base64'))).toBe(12);
    expect(attachmentBytes([pdf, pdf])).toBe(2 * Buffer.from('%PDF-1.7 hello').length);
    expect(attachmentBytes(undefined)).toBe(0);
  });
});

describe('custom headers', () => {
  it('accepts X-* headers and the allowed standard ones', () => {
    expect(
      refusedPaths({ headers: { 'X-Campaign': 'spring', 'List-Id': '<news.shop.example>', 'In-Reply-To': '<a@b>', 'auto-submitted': 'auto-generated' } }),
    ).toEqual([]);
  });

  it.each([
    ['From'],
    ['To'],
    ['Subject'],
    ['Message-ID'],
    ['Date'],
    ['Content-Type'],
    ['Content-Transfer-Encoding'],
    ['DKIM-Signature'],
    ['List-Unsubscribe'],
    ['List-Unsubscribe-Post'],
    ['Bcc'],
    ['X-Email-Id'],
    ['x-email-id'],
  ])('refuses %s, which the system sets', (name) => {
    const result = emailRequestSchema.safeParse({ ...base, headers: { [name]: 'v' } });
    expect(result.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([[`headers.${name}`, expect.stringContaining(name)]]);
  });

  it.each([
    ['a name that is not a field name', { 'X-Bad Name': 'v' }, 'headers.X-Bad Name'],
    ['a colon in the name', { 'X-A:B': 'v' }, 'headers.X-A:B'],
    ['a CR/LF in the value', { 'X-A': 'v\r\nBcc: victim@example.com' }, 'headers.X-A'],
    ['a LF alone in the value', { 'X-A': 'v\nBcc: victim@example.com' }, 'headers.X-A'],
    ['a value over 998 characters', { 'X-A': 'v'.repeat(999) }, 'headers.X-A'],
    ['the same name twice', { 'X-A': '1', 'x-a': '2' }, 'headers.x-a'],
  ])('refuses %s', (_, headers, path) => {
    expect(refusedPaths({ headers })).toEqual([path]);
  });

  it('limits the count and the total size', () => {
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, 'v']));
    expect(refusedPaths({ headers: many })).toEqual(['headers']);
    const large = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`X-H${i}`, 'v'.repeat(900)]));
    expect(refusedPaths({ headers: large })).toEqual(['headers']);
  });

  it('says why a name is refused', () => {
    expect(customHeaderRefusal('X-Anything')).toBeNull();
    expect(customHeaderRefusal('Subject')).toMatch(/only X-\* headers/);
    expect(customHeaderRefusal('X-Email-Id')).toMatch(/set by the mailer/);
  });
});

describe('from', () => {
  it.each([
    ['news@shop.example', { address: 'news@shop.example' }],
    ['"Shop" <news@shop.example>', { name: 'Shop', address: 'news@shop.example' }],
    ['"Shop, Inc." <news@shop.example>', { name: 'Shop, Inc.', address: 'news@shop.example' }],
    ['Shöp News <news@shop.example>', { name: 'Shöp News', address: 'news@shop.example' }],
    ['<news@shop.example>', { address: 'news@shop.example' }],
  ])('reads %s', (from, expected) => {
    expect(emailRequestSchema.parse({ ...base, from }).from).toEqual(expected);
  });

  it('takes { name, address } too', () => {
    expect(emailRequestSchema.parse({ ...base, from: { name: 'Shop', address: 'news@shop.example' } }).from).toEqual({
      name: 'Shop',
      address: 'news@shop.example',
    });
  });

  it.each([
    ['not an address', 'nobody', 'from.address'],
    ['a line break in the name', '"Shop\r\nBcc: x@y.example" <news@shop.example>', 'from.address'],
    ['a line break in the name (object)', { name: 'Shop\nBcc: x@y.example', address: 'news@shop.example' }, 'from.name'],
    ['a line break after the address', 'news@shop.example\r\nBcc: x@y.example', 'from.address'],
    ['two addresses', 'a@shop.example, b@shop.example', 'from.address'],
  ])('refuses %s', (_, from, path) => {
    expect(refusedPaths({ from })).toEqual([path]);
  });
});

describe('emailRequestedMessageSchema with content fields', () => {
  it('carries what the request schema produced', () => {
    const request = emailRequestSchema.parse({ ...base, from: '"Shop" <news@shop.example>', attachments: [pdf], headers: { 'X-Campaign': 'spring' } });
    const message = {
      version: 1,
      type: 'email.requested',
      emailId: '7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d',
      requestedAt: '2026-11-23T10:00:00.000Z',
      ...request,
    };
    expect(emailRequestedMessageSchema.parse(message)).toEqual(message);
  });

  it('refuses a sender as a string (the business side sends { name, address })', () => {
    const message = { version: 1, type: 'email.requested', emailId: '7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d', requestedAt: '2026-11-23T10:00:00.000Z', lane: 'bulk', ...base, to: ['a@example.com'], from: 'news@shop.example' };
    expect(emailRequestedMessageSchema.safeParse(message).success).toBe(false);
  });
});
