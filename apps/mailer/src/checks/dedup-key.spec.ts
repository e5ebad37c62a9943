import { describe, expect, it } from 'vitest';
import { CONTRACT_VERSION, type EmailRequestedMessage } from '@app/contracts';
import { dedupKey } from './dedup-key.js';

const base: EmailRequestedMessage = {
  version: CONTRACT_VERSION,
  type: 'email.requested',
  emailId: '00000000-0000-4000-8000-000000000001',
  requestedAt: '2026-11-24T10:00:00Z',
  lane: 'bulk',
  to: ['ada@example.com', 'bob@example.com'],
  subject: 'Weekly',
  html: '<p>news</p>',
  category: 'newsletter',
};

describe('dedupKey', () => {
  it('is the same for another request of the same email: other id, time, metadata, tags, lane, recipient case and order', () => {
    const again: EmailRequestedMessage = {
      ...base,
      emailId: '00000000-0000-4000-8000-000000000002',
      requestedAt: '2026-11-24T11:00:00Z',
      expiresAt: '2026-11-25T00:00:00Z',
      lane: 'transactional',
      metadata: { order: '42' },
      tags: ['campaign'],
      to: ['BOB@example.com'],
      cc: ['ada@example.com'],
      // Each copy of a bulk email carries its own signed unsubscribe link.
      unsubscribeUrl: 'https://api.example.test/v1/unsubscribe/second-copy',
    };
    expect(dedupKey(again)).toBe(dedupKey(base));
  });

  it.each([
    ['another subject', { subject: 'Monthly' }],
    ['another body', { html: '<p>other</p>' }],
    ['a text part added', { text: 'news' }],
    ['another category', { category: 'digest' }],
    ['another recipient', { to: ['ada@example.com'] }],
    // A field later versions add (a template's data) is content without any change here.
    ['other template data', { data: { name: 'Ada' } }],
  ])('differs for %s', (_name, change) => {
    expect(dedupKey({ ...base, ...change } as EmailRequestedMessage)).not.toBe(dedupKey(base));
  });
});
