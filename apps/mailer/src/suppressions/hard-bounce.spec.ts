import { describe, expect, it } from 'vitest';
import { isHardBounce } from './hard-bounce.js';

describe('isHardBounce', () => {
  it.each([
    ['550 5.1.1 <gone@example.test>: Recipient address rejected: User unknown', 550, true],
    ['550-5.1.1 The email account that you tried to reach does not exist', 550, true],
    ['553 5.1.3 Bad recipient address syntax', 553, true],
    ['550 5.7.1 Message rejected as spam', 550, false],
    ['552 5.2.2 Mailbox full', 552, false],
    ['450 4.1.1 Mailbox temporarily unavailable', 450, false],
    ['550 User unknown', 550, false],
  ])('%s → %s', (response, smtpCode, expected) => {
    expect(isHardBounce({ response, smtpCode })).toBe(expected);
  });

  it('is false without a reply', () => {
    expect(isHardBounce({ response: undefined, smtpCode: undefined })).toBe(false);
  });
});
