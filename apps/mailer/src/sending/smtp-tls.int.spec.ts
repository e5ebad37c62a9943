import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { makeTestCertificates, type TestCertificates } from '@app/testing';
import { loadMailerConfig } from '../config.js';
import { SmtpTransport, classifySmtpError, type OutgoingMail } from './smtp.transport.js';
import { SmtpDeferredError } from './smtp.errors.js';

const USER = 'mailer';
const PASSWORD = 'correct horse battery staple';

interface Session {
  secure: boolean;
  user: string | undefined;
}

/**
 * `SMTP_TLS` and SMTP credentials against a real SMTP server on loopback (`smtp-server`) that
 * offers STARTTLS with a certificate from a private CA made by openssl, and wants AUTH.
 */
describe('SMTP over TLS with credentials (SMTP)', () => {
  let certs: TestCertificates;
  let server: SMTPServer | undefined;
  let transport: SmtpTransport | undefined;
  /** What the server saw of each message it accepted. */
  let delivered: Session[];
  /** Every command the server got that carries mail: none may arrive in clear. */
  let mailFromInClear: number;

  beforeAll(() => {
    certs = makeTestCertificates();
  });
  afterAll(() => certs.remove());

  afterEach(async () => {
    await transport?.onApplicationShutdown();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    transport = undefined;
  });

  async function startServer(options: Partial<SMTPServerOptions> = {}): Promise<number> {
    delivered = [];
    mailFromInClear = 0;
    server = new SMTPServer({
      secure: false,
      key: certs.key,
      cert: certs.cert,
      logger: false,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth: (auth, _session, callback) => {
        if (auth.username === USER && auth.password === PASSWORD) return callback(null, { user: auth.username });
        callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
      onMailFrom: (_address, session, callback) => {
        if (!session.secure) mailFromInClear += 1;
        callback();
      },
      onData: (stream, session, callback) => {
        stream.resume();
        stream.on('end', () => {
          delivered.push({ secure: session.secure, user: session.user as string | undefined });
          callback();
        });
      },
      ...options,
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return (server!.server.address() as AddressInfo).port;
  }

  function mailer(port: number, env: Record<string, string>, password = PASSWORD): SmtpTransport {
    transport = new SmtpTransport(
      loadMailerConfig({
        MAILER_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
        KAFKA_BROKERS: '127.0.0.1:9092',
        REDIS_URL: 'redis://127.0.0.1:6379',
        // The host name the certificate is made out to: required TLS checks it.
        SMTP_URL: `smtp://${USER}:${encodeURIComponent(password)}@localhost:${port}`,
        SMTP_CONNECT_TIMEOUT_MS: '5000',
        ...env,
      }),
    );
    return transport;
  }

  const mail = (): OutgoingMail => {
    const emailId = randomUUID();
    return { messageId: `<${emailId}@test.local>`, from: 'no-reply@test.local', to: ['ada@example.com'], subject: 's', text: 'x', headers: {} };
  };

  /** The failure, checked to be a retriable one whose text (and cause's) holds no credential. */
  async function refusal(send: Promise<unknown>, password = PASSWORD): Promise<SmtpDeferredError> {
    const error = await send.then(
      () => expect.fail('the mail was sent'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SmtpDeferredError);
    const deferred = error as SmtpDeferredError;
    expect(deferred.retriable).toBe(true);
    const cause = deferred.cause as Record<string, unknown>;
    const texts = [deferred.message, String(deferred.smtpResponse), JSON.stringify(cause), String(cause?.message), String(cause?.command)].join('\n');
    expect(texts).not.toContain(password);
    expect(texts).not.toContain(encodeURIComponent(password));
    expect(texts).not.toContain(Buffer.from(`\u0000${USER}\u0000${password}`).toString('base64'));
    expect(texts).not.toContain(Buffer.from(password).toString('base64'));
    return deferred;
  }

  it('delivers over STARTTLS, authenticated, when TLS is required and the private CA is trusted', async () => {
    const port = await startServer();
    await mailer(port, { SMTP_TLS: 'required', SMTP_TLS_CA_FILE: certs.caFile }).send(mail(), 'transactional');
    expect(delivered).toEqual([{ secure: true, user: USER }]);
    expect(mailFromInClear).toBe(0);
  });

  it('required TLS is the default', async () => {
    const port = await startServer({ disabledCommands: ['STARTTLS'], authOptional: true });
    await refusal(mailer(port, {}).send(mail(), 'transactional'));
    expect(delivered).toEqual([]);
    expect(mailFromInClear).toBe(0);
  });

  it('refuses a server that offers no STARTTLS when TLS is required: nothing goes out in clear', async () => {
    const port = await startServer({ disabledCommands: ['STARTTLS'] });
    const error = await refusal(mailer(port, { SMTP_TLS: 'required', SMTP_TLS_CA_FILE: certs.caFile }).send(mail(), 'transactional'));
    expect(classifySmtpError(error.cause)).toBeInstanceOf(SmtpDeferredError);
    expect(delivered).toEqual([]);
    expect(mailFromInClear).toBe(0);
  });

  it('refuses a certificate from a CA it was not told to trust', async () => {
    const port = await startServer();
    await refusal(mailer(port, { SMTP_TLS: 'required' }).send(mail(), 'transactional'));
    await transport!.onApplicationShutdown();
    await refusal(mailer(port, { SMTP_TLS: 'required', SMTP_TLS_CA_FILE: certs.otherCaFile }).send(mail(), 'transactional'));
    expect(delivered).toEqual([]);
  });

  it('refuses a wrong password with a retriable error that does not contain it', async () => {
    const port = await startServer();
    const wrong = 'wrong-pass-5f1d9c';
    const smtp = mailer(port, { SMTP_TLS: 'required', SMTP_TLS_CA_FILE: certs.caFile }, wrong);
    const error = await refusal(smtp.send(mail(), 'transactional'), wrong);
    expect(error.smtpCode).toBe(535);
    expect(delivered).toEqual([]);
    // What /health/ready reports for SMTP is verify()'s error: it names the failure, not the password.
    const probe = await smtp.verify().then(() => expect.fail('verify() accepted the credentials'), (e: Error) => e);
    expect(probe.message).toMatch(/535|Invalid login/);
    expect(`${probe.message} ${JSON.stringify(probe)}`).not.toContain(wrong);
  });

  it('opportunistic TLS upgrades when offered and falls back to clear text when not', async () => {
    let port = await startServer();
    await mailer(port, { SMTP_TLS: 'opportunistic', SMTP_TLS_CA_FILE: certs.caFile }).send(mail(), 'transactional');
    expect(delivered).toEqual([{ secure: true, user: USER }]);
    await transport!.onApplicationShutdown();
    await new Promise<void>((resolve) => server!.close(() => resolve()));

    port = await startServer({ disabledCommands: ['STARTTLS'], authOptional: true });
    await mailer(port, { SMTP_TLS: 'opportunistic' }).send(mail(), 'transactional');
    expect(delivered).toEqual([{ secure: false, user: USER }]);
  });
});
