import type { ModuleMetadata, Type } from '@nestjs/common';
import type { OutboxPublisher } from './outbox-publisher.js';

export interface OutboxRelayOptions {
  /** Most rows claimed and published per round trip. */
  batchSize: number;
  /**
   * Bytes (key, payload as JSON text, headers) after which a claim takes no further row: a batch
   * holds less than this plus its last row. Kafka limits a partition's record batch to
   * `message.max.bytes` (1 MiB by default) and one send puts a batch's rows of one partition into
   * one record batch, so keep this well below it: then only a batch ending in a very large row can
   * be refused as too large, and the relay then sends its rows one by one.
   */
  maxBatchBytes: number;
  /**
   * Fallback poll, for rows committed without this process's signal (by another instance, or
   * plain SQL). An idle poll is one index-only query; rows committed through `OutboxWriter` in
   * this process wake the relay at once.
   */
  pollIntervalMs: number;
  /** After a commit signal, how long the relay waits for more commits to claim them together. */
  wakeDelayMs: number;
  /**
   * How long a claim is exclusive; a relay that dies holding it is replaced after this. A live
   * relay renews it every third of it while its publish runs.
   */
  leaseMs: number;
  /** First wait after a failed publish of a row; doubles per attempt up to `retryMaxDelayMs`. */
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /** Published rows older than this are deleted. */
  retentionMs: number;
  /** How often retention runs; each run deletes at most `cleanupBatchSize` rows per statement. */
  cleanupIntervalMs: number;
  cleanupBatchSize: number;
  /** On shutdown, how long the relay keeps publishing what the app committed last. */
  shutdownFlushMs: number;
}

export interface OutboxModuleOptions {
  /** PostgreSQL schema of the `outbox` table (the one its migrations were bound to). Default `public`. */
  schema?: string;
  /** Whether this instance runs the relay; writers work either way. Default true. */
  runRelay?: boolean;
  relay?: Partial<OutboxRelayOptions>;
}

/** Fixed when the module is declared (they shape its providers), unlike the options, which may come from a factory. */
export interface OutboxModuleExtras {
  /** The transport the relay publishes to (e.g. `KafkaOutboxPublisher`). */
  publisher: Type<OutboxPublisher>;
  /** Modules that provide what `publisher` needs. */
  imports?: ModuleMetadata['imports'];
}

export const DEFAULT_RELAY_OPTIONS: OutboxRelayOptions = {
  batchSize: 200,
  maxBatchBytes: 512 * 1024,
  pollIntervalMs: 250,
  wakeDelayMs: 2,
  leaseMs: 15_000,
  retryBaseDelayMs: 250,
  retryMaxDelayMs: 10_000,
  retentionMs: 24 * 3_600_000,
  cleanupIntervalMs: 60_000,
  cleanupBatchSize: 1_000,
  shutdownFlushMs: 5_000,
};

/** Fills in defaults and rejects settings that would break the relay's guarantees. */
export function resolveRelayOptions(overrides: Partial<OutboxRelayOptions> = {}): OutboxRelayOptions {
  const options = { ...DEFAULT_RELAY_OPTIONS, ...overrides };
  for (const [name, value] of Object.entries(options)) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`outbox relay option ${name} must be a positive number, got ${value}`);
  }
  return options;
}

export const OUTBOX_OPTIONS = Symbol('OUTBOX_OPTIONS');
export const OUTBOX_PUBLISHER = Symbol('OUTBOX_PUBLISHER');
