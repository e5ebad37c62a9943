import { describe, expect, it } from 'vitest';
import { CONTRACT_VERSION, type EmailRequestedMessage } from '@app/contracts';
import { outgoingMessage } from './outgoing-message.js';

const base: EmailRequestedMessage = {
  version: CONTRACT_VERSION,
  type: 'email.requested',
  emailId: '7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d',
  requestedAt: '2026-11-24T10:00:00.000Z',
  lane: 'transactional',
  to: ['a@example.com'],
  subject: 'Hi',
  text: 'x',
};
const defaults = { messageId: '<7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d@shop.example>', from: 'Shop <no-reply@shop.example>' };

describe('outgoingMessage', () => {
  it('builds a plain request as before: the default sender and only X-Email-Id', () => {
    expect(outgoingMessage(base, defaults)).toEqual({
      messageId: defaults.messageId,
      from: defaults.from,
      to: ['a@example.com'],
      subject: 'Hi',
      text: 'x',
      headers: { 'X-Email-Id': base.emailId },
    });
  });

  it('takes the request sender, its attachments by value (inline ones by cid) and its headers', () => {
    const mail = outgoingMessage(
      {
        ...base,
        from: { name: 'Shop', address: 'news@shop.example' },
        attachments: [
          { filename: 'a.pdf', contentType: 'application/pdf', content: 'JVBERg==' },
          { filename: 'logo.png', contentType: 'image/png', content: 'iVBORw==', contentId: 'logo@shop.example' },
        ],
        headers: { 'X-Campaign': 'spring' },
      },
      defaults,
    );
    expect(mail.from).toEqual({ name: 'Shop', address: 'news@shop.example' });
    expect(mail.attachments).toEqual([
      { filename: 'a.pdf', contentType: 'application/pdf', content: 'JVBERg==', encoding: 'base64' },
      { filename: 'logo.png', contentType: 'image/png', content: 'iVBORw==', encoding: 'base64', cid: 'logo@shop.example' },
    ]);
    expect(mail.headers).toEqual({ 'X-Campaign': 'spring', 'X-Email-Id': base.emailId });
  });

  it('never lets a header replace X-Email-Id', () => {
    expect(outgoingMessage({ ...base, headers: { 'X-Email-Id': 'forged' } }, defaults).headers).toEqual({ 'X-Email-Id': base.emailId });
    expect(outgoingMessage({ ...base, headers: { 'x-email-id': 'forged', 'X-A': 'b' } }, defaults).headers).toEqual({ 'X-A': 'b', 'X-Email-Id': base.emailId });
  });
});
