import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Lane } from '@app/contracts';
import { SmtpCapture, waitFor } from '@app/testing';
import { loadMailerConfig } from '../config.js';
import { SmtpTransport, type OutgoingMail } from './smtp.transport.js';
import { SmtpDeferredError, SmtpUnconfirmedError } from './smtp.errors.js';

/** The per-lane SMTP pools against a real SMTP server (the test kit's capture server). */
describe('SmtpTransport lanes (SMTP)', () => {
  let smtpServer: SmtpCapture;
  let smtp: SmtpTransport;

  beforeEach(async () => {
    smtpServer = new SmtpCapture();
    const port = await smtpServer.start();
    smtp = new SmtpTransport(
      loadMailerConfig({
        MAILER_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
        KAFKA_BROKERS: '127.0.0.1:9092',
        REDIS_URL: 'redis://127.0.0.1:6379',
        SMTP_URL: `smtp://127.0.0.1:${port}`,
        SMTP_TLS: 'none',
        SMTP_POOL_SIZE: '2',
      }),
    );
  });

  afterEach(async () => {
    await smtp.onApplicationShutdown();
    await smtpServer.stop();
  });

  const mail = (lane: Lane): OutgoingMail => {
    const emailId = randomUUID();
    return {
      messageId: `<${emailId}@test.local>`,
      from: 'no-reply@test.local',
      to: ['ada@example.com'],
      subject: lane,
      text: 'x',
      headers: { 'X-Email-Id': emailId },
    };
  };

  it('sends transactional mail while a bulk backlog holds every bulk connection', async () => {
    const release = smtpServer.hold((m) => m.subject === 'bulk');
    try {
      const bulk = Array.from({ length: 6 }, () => smtp.send(mail('bulk'), 'bulk'));
      // Both bulk connections are inside DATA, waiting for a 250; four more bulk mails queue behind them.
      await waitFor(() => smtpServer.mails.filter((m) => m.subject === 'bulk').length === 2, { timeoutMs: 10_000, description: 'two bulk mails held' });

      const receipt = await Promise.race([
        smtp.send(mail('transactional'), 'transactional'),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('transactional mail waited behind the bulk backlog')), 5_000)),
      ]);
      expect(receipt.response).toMatch(/^250/);
      expect(smtpServer.mails.filter((m) => m.subject === 'bulk')).toHaveLength(2); // the backlog is still held

      release();
      await Promise.all(bulk);
      expect(smtpServer.mails.filter((m) => m.subject === 'bulk')).toHaveLength(6);
    } finally {
      release();
    }
  });
});

/**
 * Failures without an SMTP reply, on raw TCP servers: each is temporary (the server may be back),
 * so the attempt is retried, never failed for good.
 */
describe('SmtpTransport connection failures (TCP)', () => {
  const servers: Server[] = [];
  const transports: SmtpTransport[] = [];

  afterEach(async () => {
    for (const t of transports.splice(0)) await t.onApplicationShutdown();
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  });

  /** A TCP server on loopback that does `onConnection` with each client; resolves with its port. */
  async function tcpServer(onConnection: (socket: Socket) => void): Promise<number> {
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      onConnection(socket);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return (server.address() as AddressInfo).port;
  }

  function transportTo(port: number): SmtpTransport {
    const transport = new SmtpTransport(
      loadMailerConfig({
        MAILER_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
        KAFKA_BROKERS: '127.0.0.1:9092',
        REDIS_URL: 'redis://127.0.0.1:6379',
        SMTP_URL: `smtp://127.0.0.1:${port}`,
        SMTP_TLS: 'none',
        SMTP_CONNECT_TIMEOUT_MS: '300',
        SMTP_SOCKET_TIMEOUT_MS: '300',
      }),
    );
    transports.push(transport);
    return transport;
  }

  const mail: OutgoingMail = { messageId: '<x@test.local>', from: 'no-reply@test.local', to: ['ada@example.com'], subject: 's', text: 'x', headers: {} };

  it('retries a refused connection', async () => {
    const port = await tcpServer(() => undefined);
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve())); // nothing listens there now
    const error = await transportTo(port).send(mail, 'transactional').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmtpDeferredError);
    expect(error).toMatchObject({ retriable: true, smtpCode: undefined, message: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('retries a server that accepts the connection and never greets (timeout)', async () => {
    const port = await tcpServer(() => undefined);
    const error = await transportTo(port).send(mail, 'transactional').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmtpDeferredError);
    expect(error).toMatchObject({ retriable: true, cause: expect.objectContaining({ code: 'ETIMEDOUT' }) });
  });

  it('retries a connection the server drops in the middle of the session', async () => {
    const port = await tcpServer((socket) => {
      socket.write('220 test ESMTP\r\n');
      socket.once('data', () => socket.destroy()); // hangs up on EHLO
    });
    const error = await transportTo(port).send(mail, 'transactional').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmtpDeferredError);
    expect(error).toMatchObject({ retriable: true });
  });

  it('retries a server that goes silent during the hand-off (socket timeout)', async () => {
    const port = await tcpServer((socket) => {
      socket.write('220 test ESMTP\r\n');
      socket.on('data', (chunk: Buffer) => {
        if (/^EHLO/i.test(chunk.toString())) socket.write('250 test\r\n');
        // MAIL FROM and everything after it: no answer at all.
      });
    });
    const error = await transportTo(port).send(mail, 'transactional').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmtpDeferredError);
    expect(error).toMatchObject({ retriable: true });
  });
});

/**
 * The end of data on a real SMTP server: the server takes the whole message and its reply to the
 * final `.` never arrives (too late, or the connection drops). The server may have the message, so
 * this is unconfirmed, never a plain deferral; with DKIM too (the signer reads the whole message
 * before it writes, so the mark must come from the stream the connection reads).
 */
describe('SmtpTransport at the end of data (SMTP)', () => {
  let smtpServer: SmtpCapture;
  let port: number;
  const transports: SmtpTransport[] = [];
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });

  beforeEach(async () => {
    smtpServer = new SmtpCapture();
    port = await smtpServer.start();
  });

  afterEach(async () => {
    for (const t of transports.splice(0)) await t.onApplicationShutdown();
    await smtpServer.stop();
  });

  async function transport(env: Record<string, string> = {}): Promise<SmtpTransport> {
    const t = new SmtpTransport(
      loadMailerConfig({
        MAILER_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
        KAFKA_BROKERS: '127.0.0.1:9092',
        REDIS_URL: 'redis://127.0.0.1:6379',
        SMTP_URL: `smtp://127.0.0.1:${port}`,
        SMTP_TLS: 'none',
        SMTP_SOCKET_TIMEOUT_MS: '500',
        ...env,
      }),
    );
    transports.push(t);
    return t;
  }

  const mail = (): OutgoingMail => {
    const emailId = randomUUID();
    return { messageId: `<${emailId}@test.local>`, from: 'no-reply@shop.example', to: ['ada@example.com'], subject: 's', text: 'x'.repeat(50_000), headers: { 'X-Email-Id': emailId } };
  };

  it.each([
    ['without DKIM', {}],
    ['with DKIM', { DKIM_DOMAIN: 'shop.example', DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY: privateKey }],
  ])('calls a reply that comes after the socket timeout unconfirmed (%s)', async (_name, env) => {
    smtpServer.delayAcceptance(1_500);
    const error = await (await transport(env)).send(mail(), 'transactional').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmtpUnconfirmedError);
    expect(error).toMatchObject({ cause: expect.objectContaining({ code: 'ETIMEDOUT' }) });
    expect(smtpServer.mails).toHaveLength(1);
  });

  it('calls a connection dropped after the end of data unconfirmed', async () => {
    smtpServer.dropAfterData(() => true);
    const error = await (await transport()).send(mail(), 'transactional').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmtpUnconfirmedError);
    expect(smtpServer.mails).toHaveLength(1);
  });

  it('still defers a refusal before the data, and sends the next message on the same pool as usual', async () => {
    smtpServer.refuseRecipients(() => ({ code: 451, message: 'try later' }));
    const t = await transport();
    await expect(t.send(mail(), 'transactional')).rejects.toBeInstanceOf(SmtpDeferredError);
    smtpServer.refuseRecipients(() => null);
    await expect(t.send(mail(), 'transactional')).resolves.toMatchObject({ response: expect.stringMatching(/^250/) });
  });
});
