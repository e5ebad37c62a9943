import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import pg from 'pg';
import { describeError, sleep } from '@app/common';
import {
  DEFAULT_RELAY_OPTIONS,
  OUTBOX_CHANNEL,
  OUTBOX_OPTIONS,
  OUTBOX_PUBLISHER,
  type OutboxModuleOptions,
  type OutboxRelayOptions,
} from './outbox.options.js';
import type { OutboxMessage, OutboxPublisher } from './outbox-publisher.js';

interface OutboxRow {
  id: string;
  topic: string;
  message_key: string;
  payload: unknown;
  headers: Record<string, string>;
}

/**
 * Publishes committed outbox rows.
 *
 * Invariants:
 * - a row is marked published only in the transaction that holds its row lock, after the
 *   publisher resolved (the broker acknowledged): a crash before the mark republishes it
 *   (at-least-once; consumers deduplicate), a crash after cannot lose it;
 * - rows are selected by `published_at IS NULL`, never by an id cursor, so a transaction that
 *   commits after a higher id was already published is still picked up;
 * - `FOR UPDATE SKIP LOCKED` lets several relays run at once without publishing a row twice
 *   concurrently;
 * - the wake-up is a LISTEN on the insert trigger's channel, with a slow poll as fallback, so
 *   latency is low without hot polling;
 * - `stop()` lets the round in flight finish (bounded by the publish timeout), then returns.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly options: OutboxRelayOptions;
  private readonly stopping = new AbortController();
  private wake: () => void = () => undefined;
  private listener?: pg.Client;
  private loop?: Promise<void>;
  private cleanupTimer?: NodeJS.Timeout;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(OUTBOX_PUBLISHER) private readonly publisher: OutboxPublisher,
    @Inject(OUTBOX_OPTIONS) private readonly moduleOptions: OutboxModuleOptions,
  ) {
    this.options = { ...DEFAULT_RELAY_OPTIONS, ...moduleOptions.relay };
  }

  onApplicationBootstrap(): void {
    if (this.moduleOptions.runRelay === false) return;
    void this.listen();
    this.loop = this.run();
    this.cleanupTimer = setInterval(() => void this.cleanup(), this.options.cleanupIntervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    this.wake();
    clearInterval(this.cleanupTimer);
    await this.loop;
    await this.listener?.end().catch(() => undefined);
  }

  /** Publishes one batch; returns how many rows went out. Exposed for tests and tooling. */
  async publishBatch(): Promise<number> {
    const outcome = await this.dataSource.transaction(async (manager) => {
      const rows: OutboxRow[] = await manager.query(
        `SELECT id::text AS id, topic, message_key, payload, headers
         FROM outbox
         WHERE published_at IS NULL
         ORDER BY id
         LIMIT $1
         FOR UPDATE SKIP LOCKED`,
        [this.options.batchSize],
      );
      if (rows.length === 0) return { published: 0 };
      const ids = rows.map((r) => r.id);
      try {
        await withTimeout(this.publisher.publish(rows.map(toMessage)), this.options.publishTimeoutMs);
      } catch (error) {
        // Keep the rows unpublished but leave a trace of why, for operators and stats.
        await manager.query(`UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])`, [
          ids,
          describeError(error).slice(0, 2_000),
        ]);
        return { published: 0, error };
      }
      await manager.query(`UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])`, [ids]);
      return { published: rows.length };
    });
    if ('error' in outcome) throw outcome.error;
    return outcome.published;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      const woken = new Promise<void>((resolve) => (this.wake = resolve));
      try {
        const published = await this.publishBatch();
        failures = 0;
        if (published === this.options.batchSize) continue; // more may be waiting
      } catch (error) {
        failures++;
        const delay = Math.min(10_000, 250 * 2 ** Math.min(failures, 6));
        this.logger.warn(`publish failed (${failures}x), retrying in ${delay} ms: ${describeError(error)}`);
        await sleep(delay, this.stopping.signal);
        continue;
      }
      await Promise.race([woken, sleep(this.options.pollIntervalMs, this.stopping.signal)]);
    }
  }

  private async listen(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      const client = new pg.Client({ connectionString: this.moduleOptions.connectionString });
      try {
        await client.connect();
        const closed = new Promise<void>((resolve) => {
          client.on('error', () => resolve());
          client.on('end', () => resolve());
        });
        client.on('notification', () => this.wake());
        await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
        this.listener = client;
        this.wake(); // rows may have arrived while we were not listening
        await closed;
      } catch (error) {
        if (!this.stopping.signal.aborted) this.logger.warn(`LISTEN connection failed: ${describeError(error)}`);
      }
      await client.end().catch(() => undefined);
      await sleep(1_000, this.stopping.signal);
    }
  }

  private async cleanup(): Promise<void> {
    try {
      // Small batches keep each delete short; the next interval continues where this one stopped.
      await this.dataSource.query(
        `DELETE FROM outbox WHERE id IN (
           SELECT id FROM outbox
           WHERE published_at IS NOT NULL AND published_at < now() - ($1::double precision * interval '1 millisecond')
           LIMIT 1000)`,
        [this.options.retentionMs],
      );
    } catch (error) {
      this.logger.warn(`cleanup failed: ${describeError(error)}`);
    }
  }
}

function toMessage(row: OutboxRow): OutboxMessage {
  return { id: row.id, topic: row.topic, key: row.message_key, payload: row.payload, headers: row.headers };
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`publish timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
