import { Queue } from 'bullmq';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import pg from 'pg';
import { nowMs } from '../lib/clock.js';

/** One reading of every backlog; a value is null when it could not be read that second. */
export interface BacklogPoint {
  t: number;
  businessOutboxPending: number | null;
  mailerOutboxPending: number | null;
  /** Per consumer group: committed-offset lag summed over its partitions. */
  kafkaLag: Record<string, number | null>;
  /** Per BullMQ queue: waiting + prioritized + delayed jobs, and active. */
  queues: Record<string, { waiting: number; active: number } | null>;
}

export interface BacklogSources {
  businessDatabaseUrl?: string;
  mailerDatabaseUrl?: string;
  kafka?: { brokers: string[]; prefix: string; groups: Record<string, string> };
  redisUrl?: string;
  queues?: { prefix: string; names: string[] };
}

/**
 * Samples the backlogs of the pipeline every second: pending outbox rows in each app's
 * database, the mailer's (and business's) consumer-group lag from kafkajs admin
 * (`fetchTopicOffsets` high watermark minus `fetchOffsets` committed offset), and BullMQ counts.
 */
export class BacklogSampler {
  readonly points: BacklogPoint[] = [];
  private timer?: NodeJS.Timeout;
  private business?: pg.Pool;
  private mailer?: pg.Pool;
  private admin?: Admin;
  private readonly queues: { name: string; queue: Queue }[] = [];
  private busy = false;

  constructor(private readonly sources: BacklogSources) {}

  async start(): Promise<void> {
    const { businessDatabaseUrl, mailerDatabaseUrl, kafka, redisUrl, queues } = this.sources;
    if (businessDatabaseUrl) this.business = new pg.Pool({ connectionString: businessDatabaseUrl, max: 1 });
    if (mailerDatabaseUrl) this.mailer = new pg.Pool({ connectionString: mailerDatabaseUrl, max: 1 });
    if (kafka) {
      this.admin = new Kafka({ clientId: 'bench-backlog', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
      await this.admin.connect();
    }
    if (redisUrl && queues) {
      const url = new URL(redisUrl);
      for (const name of queues.names) {
        this.queues.push({ name, queue: new Queue(name, { prefix: queues.prefix, connection: { host: url.hostname, port: Number(url.port || 6379) } }) });
      }
    }
    this.timer = setInterval(() => void this.sample(), 1_000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([this.business?.end(), this.mailer?.end(), this.admin?.disconnect(), ...this.queues.map((q) => q.queue.close())]);
  }

  private async sample(): Promise<void> {
    // A slow reading (a busy broker) skips a second rather than piling readings up.
    if (this.busy) return;
    this.busy = true;
    try {
      const t = nowMs();
      const [businessOutboxPending, mailerOutboxPending, kafkaLag, queues] = await Promise.all([
        this.pending(this.business, '"email_loop"."outbox"'),
        this.pending(this.mailer, '"public"."outbox"'),
        this.lag(),
        this.queueCounts(),
      ]);
      this.points.push({ t, businessOutboxPending, mailerOutboxPending, kafkaLag, queues });
    } finally {
      this.busy = false;
    }
  }

  private async pending(pool: pg.Pool | undefined, table: string): Promise<number | null> {
    if (!pool) return null;
    try {
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE published_at IS NULL`);
      return (rows[0] as { n: number }).n;
    } catch {
      return null;
    }
  }

  private async lag(): Promise<Record<string, number | null>> {
    const kafka = this.sources.kafka;
    if (!this.admin || !kafka) return {};
    const lag: Record<string, number | null> = {};
    // Groups and topics are named `<prefix><logical name>`; `groups` maps logical group to logical topic.
    for (const [group, topic] of Object.entries(kafka.groups)) {
      try {
        const high = new Map((await this.admin.fetchTopicOffsets(kafka.prefix + topic)).map((p) => [p.partition, Number(p.high)]));
        const [committed] = await this.admin.fetchOffsets({ groupId: kafka.prefix + group, topics: [kafka.prefix + topic] });
        let total = 0;
        for (const [partition, end] of high) {
          const offset = Number(committed?.partitions.find((p) => p.partition === partition)?.offset ?? -1);
          // -1: nothing committed yet, the whole partition is behind.
          total += Math.max(0, end - Math.max(0, offset));
        }
        lag[group] = total;
      } catch {
        lag[group] = null;
      }
    }
    return lag;
  }

  private async queueCounts(): Promise<BacklogPoint['queues']> {
    const counts: BacklogPoint['queues'] = {};
    for (const { name, queue } of this.queues) {
      try {
        const c = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
        counts[name] = { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0), active: c.active ?? 0 };
      } catch {
        counts[name] = null;
      }
    }
    return counts;
  }
}
