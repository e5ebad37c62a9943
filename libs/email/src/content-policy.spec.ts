import { describe, expect, it } from 'vitest';
import { emailRequestSchema } from '@app/contracts';
import { contentPolicyErrors } from './content-policy.js';

const policy = { senderDomains: ['shop.example', 'news.shop.example'], maxAttachmentBytes: 1_000 };
const request = (patch: Record<string, unknown>) => emailRequestSchema.parse({ to: 'a@example.com', subject: 'Hi', text: 'x', ...patch });
const file = (bytes: number) => ({ filename: 'f.bin', contentType: 'application/octet-stream', content: Buffer.alloc(bytes).toString('base64') });

describe('contentPolicyErrors', () => {
  it('has nothing to say about a request without from or attachments', () => {
    expect(contentPolicyErrors(request({}), { senderDomains: [], maxAttachmentBytes: 0 })).toEqual([]);
  });

  it('allows a from in a sender domain, in any case', () => {
    expect(contentPolicyErrors(request({ from: '"Shop" <Deals@News.Shop.example>' }), policy)).toEqual([]);
  });

  it.each([['x@attacker.example'], ['x@sub.shop.example'], ['x@shop.example.attacker.example']])('refuses from %s', (from) => {
    expect(contentPolicyErrors(request({ from }), policy)).toEqual([{ path: 'from', message: expect.stringContaining('shop.example, news.shop.example') }]);
  });

  it('refuses any from when no sender domain is configured', () => {
    expect(contentPolicyErrors(request({ from: 'x@shop.example' }), { ...policy, senderDomains: [] })).toEqual([
      { path: 'from', message: expect.stringContaining('no sender domains are configured') },
    ]);
  });

  it('limits the decoded total of the attachments, not each one', () => {
    expect(contentPolicyErrors(request({ attachments: [file(500), file(500)] }), policy)).toEqual([]);
    expect(contentPolicyErrors(request({ attachments: [file(500), file(501)] }), policy)).toEqual([
      { path: 'attachments', message: '1001 bytes in all, more than the limit of 1000 bytes' },
    ]);
  });
});
