import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { Lane } from '@app/contracts';
import { SmtpCapture, waitFor } from '@app/testing';
import { loadMailerConfig } from '../config.js';
import { SmtpTransport, type OutgoingMail } from './smtp.transport.js';

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
