import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpCapture, parseMail, verifyDkim, waitFor } from '@app/testing';
import { EmailLoopStack } from './stack.js';

/**
 * A request's content through `POST /v1/emails` on the real stack, as the SMTP server receives
 * it: attachments, custom headers, `from` in an allowed domain, DKIM, each lane's own route; and
 * the sender refused at both ends, by the API (400) and by the mailer (`email.rejected`).
 */
describe('message content, end to end', () => {
  const stack = new EmailLoopStack();
  /** The bulk lane's own SMTP route (`SMTP_URL_BULK`); the stack's server is the transactional one's. */
  const bulkServer = new SmtpCapture();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });

  beforeAll(async () => {
    const bulkPort = await bulkServer.start();
    await stack.start({
      // The business side lets legacy.example through; the mailer does not: its own check must catch it.
      businessEnv: { MAIL_SENDER_DOMAINS: 'shop.example,legacy.example', MAIL_MAX_ATTACHMENT_BYTES: '100000' },
      mailerEnv: {
        MAIL_FROM: 'Shop <no-reply@shop.example>',
        MAIL_SENDER_DOMAINS: 'shop.example',
        DKIM_DOMAIN: 'shop.example',
        DKIM_SELECTOR: 'e2e',
        DKIM_PRIVATE_KEY: privateKey,
        SMTP_URL_BULK: `smtp://127.0.0.1:${bulkPort}`,
      },
    });
  });

  afterAll(async () => {
    await stack.stop();
    await bulkServer.stop();
  });

  const statusOf = (id: string, status: string) =>
    waitFor(
      async () => {
        const res = await stack.get(`/v1/emails/${id}`);
        return res.body?.status === status ? res.body : undefined;
      },
      { timeoutMs: 30_000, description: `email ${id} ${status}` },
    );

  it('delivers attachments byte for byte, custom headers and the sender, signed with DKIM', async () => {
    const report = randomBytes(30_000);
    const res = await stack.post('/v1/emails', {
      to: 'ada@example.test',
      from: '"Shop News" <news@shop.example>',
      subject: 'Your report',
      html: '<p>Attached. <img src="cid:logo@shop.example"></p>',
      attachments: [
        { filename: 'report.xlsx', contentType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', content: report.toString('base64') },
        { filename: 'logo.png', contentType: 'image/png', content: Buffer.from('89504e47', 'hex').toString('base64'), contentId: 'logo@shop.example' },
      ],
      headers: { 'X-Campaign': 'weekly-report', References: '<thread-1@shop.example>' },
    });
    expect(res.status).toBe(202);

    const mail = await waitFor(() => stack.smtp.mails.find((m) => m.emailId === res.body.id), { timeoutMs: 30_000, description: 'the mail' });
    const parsed = await parseMail(mail.raw);
    expect(parsed.from?.value).toEqual([{ name: 'Shop News', address: 'news@shop.example' }]);
    expect(parsed.attachments.find((a) => a.filename === 'report.xlsx')?.content.equals(report)).toBe(true);
    expect(parsed.attachments.find((a) => a.filename === 'logo.png')).toMatchObject({ contentId: '<logo@shop.example>', related: true });
    expect(parsed.headers.get('x-campaign')).toBe('weekly-report');
    expect(parsed.references).toBe('<thread-1@shop.example>');
    expect(await verifyDkim(mail.raw, publicKey)).toEqual({ result: 'pass', domain: 'shop.example', selector: 'e2e' });
    await statusOf(res.body.id, 'sent');
  });

  it('refuses at once (400, by field) a sender outside the domains, a forbidden header and attachments over the limit', async () => {
    const res = await stack.post('/v1/emails', {
      to: 'ada@example.test',
      from: 'ceo@attacker.example',
      subject: 'Hi',
      text: 'x',
      headers: { Bcc: 'everyone@example.test' },
      attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', content: Buffer.alloc(100_001).toString('base64') }],
    });
    expect(res.status).toBe(400);
    // The schema's refusals come first; the deployment's limits are checked on a request the schema accepted.
    expect(res.body.error.fields).toEqual([{ path: 'headers.Bcc', message: expect.stringContaining('only X-* headers') }]);

    const policy = await stack.post('/v1/emails', {
      to: 'ada@example.test',
      from: 'ceo@attacker.example',
      subject: 'Hi',
      text: 'x',
      attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', content: Buffer.alloc(100_001).toString('base64') }],
    });
    expect(policy.status).toBe(400);
    expect(policy.body.error.fields).toEqual([
      { path: 'from', message: expect.stringContaining('shop.example, legacy.example') },
      { path: 'attachments', message: '100001 bytes in all, more than the limit of 100000 bytes' },
    ]);
  });

  it('has the mailer refuse a sender it may not use: rejected, with code sender_not_allowed, nothing sent', async () => {
    const res = await stack.post('/v1/emails', { to: 'ada@example.test', from: 'old@legacy.example', subject: 'Legacy', text: 'x' });
    expect(res.status).toBe(202);

    const email = await statusOf(res.body.id, 'rejected');
    const types = email.events.map((e: { type: string }) => e.type);
    expect(types).toContain('email.rejected');
    expect(types).not.toContain('email.sent');
    expect(email.events.find((e: { type: string }) => e.type === 'email.rejected').detail).toMatchObject({
      code: 'sender_not_allowed',
      reason: expect.stringContaining('old@legacy.example'),
    });
    expect(stack.smtp.mails.some((m) => m.emailId === res.body.id)).toBe(false);
  });

  it('hands bulk mail to the bulk route and transactional mail to the other', async () => {
    const bulk = await stack.post('/v1/emails', { to: 'list@example.test', subject: 'Newsletter', text: 'x', lane: 'bulk' });
    const code = await stack.post('/v1/emails', { to: 'ada@example.test', subject: 'Your code', text: '123456' });

    await waitFor(() => bulkServer.mails.find((m) => m.emailId === bulk.body.id), { timeoutMs: 30_000, description: 'the bulk mail at the bulk route' });
    await waitFor(() => stack.smtp.mails.find((m) => m.emailId === code.body.id), { timeoutMs: 30_000, description: 'the code at the main route' });
    expect(stack.smtp.mails.some((m) => m.emailId === bulk.body.id)).toBe(false);
    expect(bulkServer.mails.some((m) => m.emailId === code.body.id)).toBe(false);
  });
});
