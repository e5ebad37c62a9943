import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { AppRunner } from '../lib/app-runner.js';
import { createDatabase, dropDatabase } from '../lib/databases.js';

export const KAFKA_BROKERS = '127.0.0.1:9092';
export const REDIS_URL = 'redis://127.0.0.1:6379';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface PipelineOptions {
  smtpUrl: string;
  /** Mailer settings that differ from its defaults (recorded in the results). */
  mailerEnv: Record<string, string>;
  /** When set, each app writes a V8 CPU profile here (`<label>.cpuprofile`) when it exits. */
  profileDir?: string;
}

/**
 * Our loop as `test/stack.ts` runs it: fresh databases, a unique Kafka topic prefix and BullMQ
 * prefix, one business instance and one or more mailers from `dist/`, the mailers sending to the
 * bench's sink.
 */
export class PipelineStack {
  readonly id = `bench${randomBytes(3).toString('hex')}`;
  readonly topicPrefix = `${this.id}.`;
  /** The business app's bootstrap key (`BUSINESS_API_KEYS`), which the load generator sends. */
  readonly businessKey = `el_bench_${randomBytes(24).toString('base64url')}`;
  businessDatabaseUrl = '';
  mailerDatabaseUrl = '';
  business!: AppRunner;
  readonly mailers: AppRunner[] = [];
  private businessDb?: pg.Pool;

  constructor(private readonly options: PipelineOptions) {}

  get databaseNames(): string[] {
    return [this.businessDatabaseUrl, this.mailerDatabaseUrl].filter(Boolean).map((url) => new URL(url).pathname.slice(1));
  }

  async start(): Promise<void> {
    this.businessDatabaseUrl = await createDatabase(`business_${this.id}`);
    this.mailerDatabaseUrl = await createDatabase(`mailer_${this.id}`);
    await this.addMailer();
    const businessPort = await freePort();
    this.business = new AppRunner(
      'business',
      {
        BUSINESS_DATABASE_URL: this.businessDatabaseUrl,
        KAFKA_BROKERS,
        KAFKA_TOPIC_PREFIX: this.topicPrefix,
        BUSINESS_PORT: String(businessPort),
        BUSINESS_HOST: '127.0.0.1',
        // The bench reads and writes the module's tables in this schema (the raw-pg writer too).
        EMAIL_SCHEMA: 'email_loop',
        REDIS_URL,
        QUEUE_PREFIX: this.id,
        BUSINESS_API_KEYS: this.businessKey,
        // The bench measures the pipeline, not the per-key limit: far above any rate it offers.
        API_RATE_LIMIT: '1000000/s',
        WEBHOOK_SECRETS_KEY: randomBytes(32).toString('base64'),
      },
      businessPort,
      `${this.id}-business`,
      this.nodeArgs(`${this.id}-business`),
    );
    await this.business.start();
    this.businessDb = new pg.Pool({ connectionString: this.businessDatabaseUrl, max: 2 });
  }

  /** Starts one more mailer instance in the same consumer group; resolves once it is healthy. */
  async addMailer(): Promise<AppRunner> {
    const port = await freePort();
    const mailer = new AppRunner(
      'mailer',
      {
        MAILER_DATABASE_URL: this.mailerDatabaseUrl,
        KAFKA_BROKERS,
        KAFKA_TOPIC_PREFIX: this.topicPrefix,
        REDIS_URL,
        QUEUE_PREFIX: this.id,
        SMTP_URL: this.options.smtpUrl,
        SMTP_TLS: 'none', // the capture server speaks no TLS
        MAILER_PORT: String(port),
        MAILER_HOST: '127.0.0.1',
        ...this.options.mailerEnv,
      },
      port,
      `${this.id}-mailer-${this.mailers.length}`,
      this.nodeArgs(`${this.id}-mailer-${this.mailers.length}`),
    );
    this.mailers.push(mailer);
    await mailer.start();
    return mailer;
  }

  private nodeArgs(label: string): string[] {
    const dir = this.options.profileDir;
    return dir ? ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${label}.cpuprofile`] : [];
  }

  async stopMailers(): Promise<void> {
    await Promise.all(this.mailers.map((m) => m.stop()));
  }

  /** `updated_at` (ms) of each of `ids` whose business row is `sent`: when the status was applied. */
  async appliedAt(ids: string[]): Promise<Map<string, number>> {
    const applied = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 5_000) {
      const { rows } = await (this.businessDb as pg.Pool).query(
        `SELECT id, (extract(epoch FROM updated_at) * 1000)::float8 AS at FROM "email_loop"."emails" WHERE status = 'sent' AND id = ANY($1::uuid[])`,
        [ids.slice(i, i + 5_000)],
      );
      for (const row of rows as { id: string; at: number }[]) applied.set(row.id, row.at);
    }
    return applied;
  }

  async countSent(ids: string[]): Promise<number> {
    const { rows } = await (this.businessDb as pg.Pool).query(
      `SELECT count(*)::int AS n FROM "email_loop"."emails" WHERE status = 'sent' AND id = ANY($1::uuid[])`,
      [ids],
    );
    return (rows[0] as { n: number }).n;
  }

  async stop(): Promise<void> {
    await this.businessDb?.end();
    await Promise.all([this.business?.stop(), this.stopMailers()]);
    await Promise.all([dropDatabase(this.businessDatabaseUrl), dropDatabase(this.mailerDatabaseUrl)].map((p) => p.catch(() => undefined)));
    await this.dropQueues();
  }

  /** Deletes the run's BullMQ keys (`<QUEUE_PREFIX>:*`): the apps keep completed jobs for a while. */
  private async dropQueues(): Promise<void> {
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.id}:*`, 'COUNT', 1_000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }

  problems(): Record<string, string[]> {
    const all: Record<string, string[]> = {};
    for (const app of [this.business, ...this.mailers]) if (app) all[app.label] = app.problems();
    return all;
  }
}
