import { randomUUID } from 'node:crypto';
import nodemailer from 'nodemailer';
import { BENCH_MAIL, recipientOf } from '../lib/mail.js';

/** The baselines' SMTP client: the mailer's transport settings (`smtp.transport.ts`) with `poolSize` connections. */
export function createTransport(smtpUrl: string, poolSize: number) {
  return nodemailer.createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: poolSize,
    maxMessages: 1_000,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 60_000,
  });
}

/** The mail the mailer would send for email `seq`: same sender, body, Message-ID form and header. */
export function benchMail(tag: string, seq: number) {
  const emailId = randomUUID();
  return {
    messageId: `<${emailId}@email-loop.local>`,
    from: BENCH_MAIL.from,
    to: [recipientOf(tag, seq)],
    subject: BENCH_MAIL.subject,
    text: BENCH_MAIL.text,
    headers: { 'X-Email-Id': emailId },
  };
}
