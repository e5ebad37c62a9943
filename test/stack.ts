import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { AppProcess, SmtpCapture, createTestDatabase, dropTestDatabase } from '@app/testing';

export const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The whole loop for one test file: fresh databases, a unique Kafka topic prefix and BullMQ
 * prefix, a capturing SMTP server, and both built apps as separate processes.
 */
export class EmailLoopStack {
  readonly id = `t${randomBytes(4).toString('hex')}`;
  readonly topicPrefix = `${this.id}.`;
  readonly smtp = new SmtpCapture();
  businessUrl = '';
  mailerUrl = '';
  businessDatabaseUrl = '';
  mailerDatabaseUrl = '';
  business?: AppProcess;
  mailer?: AppProcess;

  async start(mailerEnv: Record<string, string> = {}): Promise<void> {
    const smtpPort = await this.smtp.start();
    this.businessDatabaseUrl = await createTestDatabase(`business_${this.id}`);
    this.mailerDatabaseUrl = await createTestDatabase(`mailer_${this.id}`);
    const [businessPort, mailerPort] = [await freePort(), await freePort()];
    this.businessUrl = `http://127.0.0.1:${businessPort}`;
    this.mailerUrl = `http://127.0.0.1:${mailerPort}`;
    this.mailer = new AppProcess(
      'mailer',
      {
        MAILER_DATABASE_URL: this.mailerDatabaseUrl,
        KAFKA_BROKERS,
        KAFKA_TOPIC_PREFIX: this.topicPrefix,
        REDIS_URL,
        QUEUE_PREFIX: this.id,
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
        MAILER_PORT: String(mailerPort),
        SEND_RETRY_BASE_MS: '200',
        ...mailerEnv,
      },
      `${this.mailerUrl}/health`,
      `${this.id}-mailer`,
    );
    this.business = new AppProcess(
      'business',
      {
        BUSINESS_DATABASE_URL: this.businessDatabaseUrl,
        KAFKA_BROKERS,
        KAFKA_TOPIC_PREFIX: this.topicPrefix,
        BUSINESS_PORT: String(businessPort),
      },
      `${this.businessUrl}/health`,
      `${this.id}-business`,
    );
    await Promise.all([this.mailer.start(), this.business.start()]);
  }

  /** SIGTERMs both apps; resolves with their exit codes. */
  async stop(): Promise<{ business: number | null; mailer: number | null }> {
    const [business, mailer] = await Promise.all([this.business?.stop() ?? null, this.mailer?.stop() ?? null]);
    await this.smtp.stop();
    await Promise.all([dropTestDatabase(this.businessDatabaseUrl), dropTestDatabase(this.mailerDatabaseUrl)]);
    return { business, mailer };
  }

  async post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.businessUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  }

  async get(path: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.businessUrl}${path}`);
    return { status: res.status, body: await res.json().catch(() => null) };
  }
}
