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
import { RetentionJob } from '@app/retention';
import {
  OUTBOX_OPTIONS,
  OUTBOX_PUBLISHER,
  type OutboxModuleOptions,
  type OutboxRelayOptions,
  outboxChannel,
  resolveRelayOptions,
} from './outbox.options.js';
import type { OutboxMessage, OutboxPublisher } from './outbox-publisher.js';
import { OutboxClaims, type OutboxClaim } from './outbox-claims.js';

/**
 * Publishes committed outbox rows.
 *
 * Invariants:
 * - a relay publishes only rows it claimed under a lease (`OutboxClaims.claim`); the claim's
 *   token fences it: once the lease has run out, its "published" mark is refused and another
 *   relay republishes (at-least-once; consumers deduplicate);
 * - a publish is never abandoned while it runs: the relay renews its lease until the transport
 *   settled the send (a transport must settle in bounded time: the Kafka producer's retries and
 *   timeouts are bounded), so no other relay, and no retry of this one, can send the same rows
 *   while a send of them may still reach the broker;
 * - a row is marked published only after the publisher resolved (the broker acknowledged): a
 *   crash before the mark republishes it after the lease, a crash after cannot lose it;
 * - rows are selected by state, never by an id cursor, so a transaction that commits after a
 *   higher id was already published is still picked up;
 * - per key, rows go out in order: a key with a row leased or waiting for a retry is skipped by
 *   every relay, and a batch is published in id order;
 * - a row the transport rejects permanently is dead-lettered (its key moves on); every other
 *   failure is retried with per-row back-off, forever: an outage never creates dead letters;
 * - the wake-up is a LISTEN on the insert trigger's channel, with a slow poll as fallback, so
 *   latency is low without hot polling;
 * - published rows are deleted `retentionMs` after publication, in batches (`RetentionJob`);
 * - `stop()` lets the round in flight finish (bounded by the transport's own limits), then returns.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly options: OutboxRelayOptions;
  private readonly claims: OutboxClaims;
  private readonly stopping = new AbortController();
  private woken = false;
  private onWake?: () => void;
  private listener?: pg.Client;
  private loop?: Promise<void>;
  private readonly cleanup: RetentionJob;

  constructor(
    dataSource: DataSource,
    @Inject(OUTBOX_PUBLISHER) private readonly publisher: OutboxPublisher,
    @Inject(OUTBOX_OPTIONS) private readonly moduleOptions: OutboxModuleOptions,
  ) {
    this.options = resolveRelayOptions(moduleOptions.relay);
    this.claims = new OutboxClaims(dataSource, moduleOptions.schema);
    const { retentionMs, cleanupIntervalMs, cleanupBatchSize } = this.options;
    this.cleanup = new RetentionJob(
      OutboxRelay.name,
      [{ table: 'outbox', ageMs: retentionMs, deleteBatch: (limit) => this.claims.deletePublished(retentionMs, limit) }],
      { intervalMs: cleanupIntervalMs, batchSize: cleanupBatchSize },
    );
  }

  onApplicationBootstrap(): void {
    if (this.moduleOptions.runRelay === false) return;
    void this.listen();
    this.loop = this.run();
    this.cleanup.start();
  }

  /**
   * Nest shuts the app's own providers (consumers, workers: the writers) down before this
   * module's, so what they committed last is flushed here, within `shutdownFlushMs`; whatever is
   * left stays in the outbox for the next start.
   */
  async onApplicationShutdown(): Promise<void> {
    if (this.moduleOptions.runRelay === false) return;
    this.stopping.abort();
    this.wake();
    await this.cleanup.stop();
    await this.loop;
    await this.listener?.end().catch(() => undefined);
    await this.flush(Date.now() + this.options.shutdownFlushMs);
  }

  private async flush(deadline: number): Promise<void> {
    let flushed = 0;
    try {
      while (Date.now() < deadline) {
        const published = await this.publishBatch();
        if (published === 0) break;
        flushed += published;
      }
    } catch (error) {
      this.logger.warn(`shutdown flush stopped, the rest waits for the next start: ${describeError(error)}`);
    }
    if (flushed > 0) this.logger.log(`flushed ${flushed} outbox rows on shutdown`);
  }

  /**
   * Claims and publishes one batch; returns how many rows went out. Throws when the batch could
   * not be published (its rows are back in the outbox, waiting for their retry). Exposed for
   * tests and tooling.
   */
  async publishBatch(): Promise<number> {
    const claim = await this.claims.claim(this.options.batchSize, this.options.leaseMs);
    if (!claim) return 0;
    const ids = claim.messages.map((m) => m.id);
    try {
      await this.publishHoldingLease(claim.token, claim.messages);
    } catch (error) {
      if (this.isPermanent(error)) return this.publishOneByOne(claim);
      await this.claims.release(claim.token, ids, describeError(error), this.backoff());
      throw error;
    }
    await this.markPublished(claim.token, ids);
    return ids.length;
  }

  /**
   * After a permanent failure of a batch: find the row(s) at fault by publishing one at a time,
   * dead-letter those, and publish the rest, keeping each key's order.
   */
  private async publishOneByOne(claim: OutboxClaim): Promise<number> {
    let published = 0;
    const stalledKeys = new Set<string>();
    for (const message of claim.messages) {
      if (stalledKeys.has(message.key)) {
        await this.claims.unclaim(claim.token, [message.id]);
        continue;
      }
      try {
        await this.publishHoldingLease(claim.token, [message]);
      } catch (error) {
        if (this.isPermanent(error)) {
          this.logger.error(`dead-lettering outbox row ${message.id} (${message.topic}): ${describeError(error)}`);
          await this.claims.deadLetter(claim.token, message.id, describeError(error));
        } else {
          await this.claims.release(claim.token, [message.id], describeError(error), this.backoff());
          stalledKeys.add(message.key);
        }
        continue;
      }
      published += await this.markPublished(claim.token, [message.id]);
    }
    return published;
  }

  private async markPublished(token: string, ids: string[]): Promise<number> {
    const marked = await this.claims.markPublished(token, ids);
    if (marked < ids.length) {
      // Our lease ran out and another relay took the rows over; they will be published again.
      this.logger.warn(`lease lost for ${ids.length - marked} of ${ids.length} published rows; they will be republished`);
    }
    return marked;
  }

  /** Publishes, renewing the claim's lease until the transport settles the send. */
  private async publishHoldingLease(token: string, messages: readonly OutboxMessage[]): Promise<void> {
    const ids = messages.map((m) => m.id);
    const renewal = setInterval(() => {
      this.claims.extendLease(token, ids, this.options.leaseMs).catch((error: unknown) => {
        this.logger.warn(`could not renew the lease of ${ids.length} rows being published: ${describeError(error)}`);
      });
    }, this.options.leaseMs / 3);
    try {
      await this.publisher.publish(messages);
    } finally {
      clearInterval(renewal);
    }
  }

  private isPermanent(error: unknown): boolean {
    return this.publisher.isPermanentFailure?.(error) ?? false;
  }

  private backoff(): { baseMs: number; maxMs: number } {
    return { baseMs: this.options.retryBaseDelayMs, maxMs: this.options.retryMaxDelayMs };
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      this.woken = false; // a NOTIFY from now on means there may be more to publish
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
      await this.nextWakeUp();
    }
  }

  /** Resolves on a NOTIFY (also one that came while publishing), after the poll interval, or on stop. */
  private nextWakeUp(): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.stopping.signal.removeEventListener('abort', done);
        this.onWake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.options.pollIntervalMs);
      this.stopping.signal.addEventListener('abort', done, { once: true });
      this.onWake = done;
    });
  }

  private wake(): void {
    this.woken = true;
    this.onWake?.();
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
        await client.query(`LISTEN "${outboxChannel(this.moduleOptions.schema)}"`);
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
}
