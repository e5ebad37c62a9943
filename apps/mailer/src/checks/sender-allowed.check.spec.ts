import { describe, expect, it } from 'vitest';
import { CONTRACT_VERSION, type EmailRequestedMessage } from '@app/contracts';
import { SenderAllowedCheck } from './sender-allowed.check.js';

const request = (from?: EmailRequestedMessage['from']): EmailRequestedMessage => ({
  version: CONTRACT_VERSION,
  type: 'email.requested',
  emailId: '7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d',
  requestedAt: '2026-11-24T10:00:00.000Z',
  lane: 'transactional',
  to: ['a@example.com'],
  subject: 'Hi',
  text: 'x',
  ...(from && { from }),
});

describe('SenderAllowedCheck', () => {
  const check = new SenderAllowedCheck({ MAIL_FROM: 'Shop <no-reply@shop.example>', MAIL_SENDER_DOMAINS: ['news.shop.example', 'shop.example'] });

  it('lets a request without from through', () => {
    expect(check.verdictOn(request())).toBeNull();
  });

  it('allows the configured domains, whatever the case, and the default sender', () => {
    expect(check.verdictOn(request({ name: 'Shop', address: 'deals@News.Shop.Example' }))).toBeNull();
    expect(check.verdictOn(request({ address: 'team@shop.example' }))).toBeNull();
  });

  it.each([['evil@attacker.example'], ['x@sub.news.shop.example'], ['x@shop.example.attacker.example']])(
    'refuses %s with sender_not_allowed',
    (address) => {
      expect(check.verdictOn(request({ address }))).toEqual({ status: 'rejected', code: 'sender_not_allowed', reason: expect.stringContaining(address) });
    },
  );

  it('without MAIL_SENDER_DOMAINS allows only the default sender', () => {
    const strict = new SenderAllowedCheck({ MAIL_FROM: 'Shop <no-reply@shop.example>', MAIL_SENDER_DOMAINS: [] });
    expect(strict.verdictOn(request({ name: 'Shop', address: 'No-Reply@shop.example' }))).toBeNull();
    expect(strict.verdictOn(request({ address: 'news@shop.example' }))?.reason).toMatch(/MAIL_SENDER_DOMAINS is not set/);
  });

  it('reads a bare MAIL_FROM too', () => {
    const bare = new SenderAllowedCheck({ MAIL_FROM: 'no-reply@shop.example', MAIL_SENDER_DOMAINS: [] });
    expect(bare.verdictOn(request({ address: 'no-reply@shop.example' }))).toBeNull();
  });
});
