import { describe, expect, it } from 'vitest';
import type { ApiKeyPrincipal } from '@app/auth';
import { ForbiddenError } from '@app/common';
import { assertKeyMaySendFrom } from './key-sender-domains.js';

const key = (senderDomains?: string[]): ApiKeyPrincipal => ({ id: 'k', name: 'k', scopes: new Set(['emails:send']), ...(senderDomains && { senderDomains }) });

describe('assertKeyMaySendFrom', () => {
  it('lets a key without sender domains send from anything (the deployment still checks)', () => {
    expect(() => assertKeyMaySendFrom(key(), { from: 'a@elsewhere.example' })).not.toThrow();
    expect(() => assertKeyMaySendFrom(key(), {})).not.toThrow();
  });

  it('lets a limited key send from its domains, in any form and case', () => {
    expect(() => assertKeyMaySendFrom(key(['shop.example']), { from: 'News <news@Shop.Example>' })).not.toThrow();
    expect(() => assertKeyMaySendFrom(key(['shop.example']), { from: { name: 'Shop', address: 'news@shop.example' } })).not.toThrow();
  });

  it('refuses another domain (a subdomain too), naming it', () => {
    for (const [from, domain] of [
      ['a@other.example', 'other.example'],
      ['a@mail.shop.example', 'mail.shop.example'],
    ]) {
      try {
        assertKeyMaySendFrom(key(['shop.example']), { from });
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(ForbiddenError);
        expect(error).toMatchObject({ code: 'sender_domain_not_allowed', details: { domain } });
      }
    }
  });

  it('refuses a limited key without a from: MAIL_FROM is not its domain', () => {
    expect(() => assertKeyMaySendFrom(key(['shop.example']), { to: 'a@b.example' })).toThrow(ForbiddenError);
  });

  it('leaves a malformed from to validation (a 400 at the field)', () => {
    expect(() => assertKeyMaySendFrom(key(['shop.example']), { from: 42 })).not.toThrow();
  });
});
