import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_VERSION, emailRequestSchema, type EmailRequestInput, type EmailRequestedMessage } from '@app/contracts';
import { SmtpCapture, parseMail, verifyDkim, waitFor, type CapturedMail } from '@app/testing';
import { loadMailerConfig, messageIdOf, type MailerConfig } from '../config.js';
import { outgoingMessage } from './outgoing-message.js';
import { SmtpTransport } from './smtp.transport.js';

/**
 * The message as a real SMTP server receives it (read back with mailparser and mailauth): what a
 * request's content fields become on the wire, DKIM signing, and each lane's own SMTP route.
 */
describe('outgoing message (SMTP)', () => {
  const mainServer = new SmtpCapture();
  const bulkServer = new SmtpCapture();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  let mainUrl: string;
  let bulkUrl: string;
  const transports: SmtpTransport[] = [];

  beforeAll(async () => {
    mainUrl = `smtp://127.0.0.1:${await mainServer.start()}`;
    bulkUrl = `smtp://127.0.0.1:${await bulkServer.start()}`;
  });

  afterEach(async () => {
    await Promise.all(transports.splice(0).map((t) => t.onApplicationShutdown()));
  });

  afterAll(async () => {
    await Promise.all([mainServer.stop(), bulkServer.stop()]);
  });

  function mailer(env: Record<string, string> = {}): { config: MailerConfig; smtp: SmtpTransport } {
    const config = loadMailerConfig({
      MAILER_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
      KAFKA_BROKERS: '127.0.0.1:9092',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SMTP_URL: mainUrl,
      SMTP_TLS: 'none',
      MAIL_FROM: 'Shop <no-reply@shop.example>',
      ...env,
    });
    const smtp = new SmtpTransport(config);
    transports.push(smtp);
    return { config, smtp };
  }

  /** The request as the business side would publish it (through the request schema). */
  function requested(input: Partial<EmailRequestInput>): EmailRequestedMessage {
    // The request's own `version` (a template's) is not the contract's: the message's comes last.
    const { version: _templateVersion, template: _template, data: _data, ...fields } = emailRequestSchema.parse({ to: `${randomUUID()}@example.com`, subject: 'Your order', text: 'Thanks!', ...input });
    return { ...fields, subject: fields.subject ?? '', version: CONTRACT_VERSION, type: 'email.requested', emailId: randomUUID(), requestedAt: new Date().toISOString() };
  }

  async function sendAndReceive(config: MailerConfig, smtp: SmtpTransport, request: EmailRequestedMessage, server = mainServer): Promise<CapturedMail> {
    await smtp.send(outgoingMessage(request, { messageId: messageIdOf(config, request.emailId), from: config.MAIL_FROM }), request.lane);
    return waitFor(() => server.mails.find((m) => m.emailId === request.emailId), { timeoutMs: 10_000, description: `mail ${request.emailId}` });
  }

  it('carries the attachments byte for byte, an inline image, the custom headers and the sender', async () => {
    const { config, smtp } = mailer();
    const binary = randomBytes(40_000); // every byte value, not only text
    const logo = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const request = requested({
      from: '"Shöp News" <news@shop.example>',
      html: '<p>Hi <img src="cid:logo@shop.example"></p>',
      attachments: [
        { filename: 'invoice 2026-11.pdf', contentType: 'application/pdf', content: binary.toString('base64') },
        { filename: 'logo.png', contentType: 'image/png', content: logo.toString('base64'), contentId: 'logo@shop.example' },
      ],
      headers: { 'X-Campaign': 'spring-sale', 'List-Id': 'Shop news <news.shop.example>', 'In-Reply-To': '<order-1@shop.example>' },
    });

    const mail = await sendAndReceive(config, smtp, request);
    const parsed = await parseMail(mail.raw);

    expect(parsed.from?.value).toEqual([{ name: 'Shöp News', address: 'news@shop.example' }]);
    expect(mail.from).toBe('news@shop.example'); // the envelope sender follows
    const invoice = parsed.attachments.find((a) => a.filename === 'invoice 2026-11.pdf');
    const inline = parsed.attachments.find((a) => a.filename === 'logo.png');
    expect(invoice).toMatchObject({ filename: 'invoice 2026-11.pdf', contentType: 'application/pdf', contentDisposition: 'attachment' });
    expect(invoice!.content.equals(binary)).toBe(true);
    expect(inline).toMatchObject({ filename: 'logo.png', contentType: 'image/png', contentId: '<logo@shop.example>', related: true });
    expect(inline!.content.equals(logo)).toBe(true);
    expect(parsed.headers.get('x-campaign')).toBe('spring-sale');
    expect(parsed.headerLines.find((h) => h.key === 'list-id')?.line).toMatch(/^List-Id: Shop news <news\.shop\.example>$/i); // nodemailer writes it List-ID
    expect(parsed.inReplyTo).toBe('<order-1@shop.example>');
    expect(parsed.headers.get('x-email-id')).toBe(request.emailId);
    expect(parsed.messageId).toBe(messageIdOf(config, request.emailId));
  });

  it('keeps the default sender and its own X-Email-Id whatever a message carries', async () => {
    const { config, smtp } = mailer();
    const request = requested({});
    // A producer that bypassed the schema: the mailer's header still wins.
    request.headers = { 'x-email-id': 'forged' };

    const mail = await sendAndReceive(config, smtp, request);
    const parsed = await parseMail(mail.raw);

    expect(parsed.from?.value).toEqual([{ name: 'Shop', address: 'no-reply@shop.example' }]);
    expect(mail.raw.match(/^x-email-id:[^\r\n]*/gim)?.map((line) => line.toLowerCase())).toEqual([`x-email-id: ${request.emailId}`]); // one field, ours
    expect(parsed.headers.has('dkim-signature')).toBe(false);
  });

  it('signs every message with DKIM when configured, and the signature verifies against the public key', async () => {
    const { config, smtp } = mailer({ DKIM_DOMAIN: 'shop.example', DKIM_SELECTOR: 'mail2026', DKIM_PRIVATE_KEY: privateKey });
    const request = requested({
      from: 'news@shop.example',
      html: '<p>Hello</p>',
      attachments: [{ filename: 'a.bin', contentType: 'application/octet-stream', content: randomBytes(1_000).toString('base64') }],
    });

    const mail = await sendAndReceive(config, smtp, request);

    expect((await parseMail(mail.raw)).headers.get('dkim-signature')).toMatchObject({ params: expect.objectContaining({ d: 'shop.example', s: 'mail2026' }) });
    expect(await verifyDkim(mail.raw, publicKey)).toEqual({ result: 'pass', domain: 'shop.example', selector: 'mail2026' });
    // The verifier is not a rubber stamp: one changed byte of the body (mailauth: body hash
    // mismatch, `neutral`) or of a signed header (`fail`) and it does not pass.
    expect((await verifyDkim(mail.raw.replace('Hello', 'Hellp'), publicKey)).result).not.toBe('pass');
    expect((await verifyDkim(mail.raw.replace('Subject: Your order', 'Subject: Your ordeR'), publicKey)).result).toBe('fail');
  });

  it('hands each lane to its own route when SMTP_URL_<LANE> is set', async () => {
    const { config, smtp } = mailer({ SMTP_URL_BULK: bulkUrl });
    await smtp.verify(); // greets both routes
    const bulk = requested({ lane: 'bulk' });
    const transactional = requested({ lane: 'transactional' });

    await sendAndReceive(config, smtp, bulk, bulkServer);
    await sendAndReceive(config, smtp, transactional, mainServer);

    expect(mainServer.mails.some((m) => m.emailId === bulk.emailId)).toBe(false);
    expect(bulkServer.mails.some((m) => m.emailId === transactional.emailId)).toBe(false);
  });
});
