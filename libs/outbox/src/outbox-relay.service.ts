import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { describeError, sleep } from '@app/common';
import { RetentionJob } from '@app/retention';
import {
  OUTBOX_OPTIONS,
  OUTBOX_PUBLISHER,
  type OutboxModuleOptions,
  type OutboxRelayOptions,
  resolveRelayOptions,
} from './outbox.options.js';
import type { OutboxMessage, OutboxPublisher } from './outbox-publisher.js';
import { OutboxClaims, type OutboxClaim } from './outbox-claims.js';
import { OutboxCommitSignal } from './outbox-commit-signal.js';

/** Why the relay looks at the outbox again. */
type WakeUp = 'signal' | 'poll';

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
 * - a claim is one round trip (`OutboxClaims.claim`) of at most `batchSize` rows, cut after
 *   `maxBatchBytes`, so one send stays below the broker's record-batch limit;
 * - the wake-up costs the writers nothing: no NOTIFY (it serialises every commit of the
 *   server). A commit through this process's `OutboxWriter` wakes the relay in-process after
 *   `wakeDelayMs` (commits in that window are claimed together); rows committed elsewhere (other
 *   instances, plain SQL) are found by a poll every `pollIntervalMs`, which, while the outbox is
 *   idle, is one index-only query (`OutboxClaims.hasPending`) with no lock;
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
  private wakeTimer?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private loop?: Promise<void>;
  private readonly cleanup: RetentionJob;

  constructor(
    dataSource: DataSource,
    @Inject(OUTBOX_PUBLISHER) private readonly publisher: OutboxPublisher,
    @Inject(OUTBOX_OPTIONS) private readonly moduleOptions: OutboxModuleOptions,
    private readonly signal?: OutboxCommitSignal,
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
    this.unsubscribe = this.signal?.subscribe(() => this.wakeSoon());
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
    this.unsubscribe?.();
    clearTimeout(this.wakeTimer);
    this.stopping.abort();
    this.wake();
    await this.cleanup.stop();
    await this.loop;
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
    return (await this.round()).published;
  }

  /** One claim and its publish: how many rows were claimed, and how many of them went out. */
  private async round(): Promise<{ claimed: number; published: number }> {
    const claim = await this.claims.claim(this.options.batchSize, this.options.leaseMs, this.options.maxBatchBytes);
    if (!claim) return { claimed: 0, published: 0 };
    const ids = claim.messages.map((m) => m.id);
    try {
      await this.publishHoldingLease(claim.token, claim.messages);
    } catch (error) {
      if (this.isPermanent(error)) return { claimed: ids.length, published: await this.publishOneByOne(claim) };
      await this.claims.release(claim.token, ids, describeError(error), this.backoff());
      throw error;
    }
    await this.markPublished(claim.token, ids);
    return { claimed: ids.length, published: ids.length };
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
    let reason: WakeUp = 'signal'; // at start, rows may be waiting: claim at once
    while (!this.stopping.signal.aborted) {
      this.woken = false; // a signal from now on means there may be more to publish
      try {
        // An idle poll only looks (index-only, no lock); a signal or a claimed batch claims at once.
        const idle = reason === 'poll' && !(await this.claims.hasPending());
        const { claimed } = idle ? { claimed: 0 } : await this.round();
        failures = 0;
        if (claimed > 0) {
          reason = 'signal';
          continue; // more may be waiting (a batch may be cut by bytes): until a claim finds none
        }
      } catch (error) {
        failures++;
        const delay = Math.min(10_000, 250 * 2 ** Math.min(failures, 6));
        this.logger.warn(`publish failed (${failures}x), retrying in ${delay} ms: ${describeError(error)}`);
        await sleep(delay, this.stopping.signal);
        reason = 'signal';
        continue;
      }
      reason = await this.nextWakeUp();
    }
  }

  /** Resolves on a commit signal (also one that came while publishing), after the poll interval, or on stop. */
  private nextWakeUp(): Promise<WakeUp> {
    if (this.woken) return Promise.resolve('signal');
    return new Promise((resolve) => {
      const done = (reason: WakeUp): void => {
        clearTimeout(timer);
        this.stopping.signal.removeEventListener('abort', stopped);
        this.onWake = undefined;
        resolve(reason);
      };
      const stopped = (): void => done('signal');
      const timer = setTimeout(() => done('poll'), this.options.pollIntervalMs);
      this.stopping.signal.addEventListener('abort', stopped, { once: true });
      this.onWake = () => done('signal');
    });
  }

  /** A commit signal: wake after `wakeDelayMs`, so that commits close together share a claim. */
  private wakeSoon(): void {
    this.wakeTimer ??= setTimeout(() => {
      this.wakeTimer = undefined;
      this.wake();
    }, this.options.wakeDelayMs);
  }

  private wake(): void {
    this.woken = true;
    this.onWake?.();
  }
}
