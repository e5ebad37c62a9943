import type { ModuleMetadata, Type } from '@nestjs/common';
import type { OutboxPublisher } from './outbox-publisher.js';

export interface OutboxRelayOptions {
  /** Rows claimed and published per round trip. */
  batchSize: number;
  /** Fallback poll when no NOTIFY arrives (NOTIFY is the normal wake-up). */
  pollIntervalMs: number;
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
  /** Connection string used for the LISTEN connection (the relay's wake-up channel). */
  connectionString: string;
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
  pollIntervalMs: 1_000,
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

/** The channel the insert trigger of the outbox in `schema` notifies; see the migration. */
export function outboxChannel(schema = 'public'): string {
  return schema === 'public' ? 'outbox_inserted' : `${schema}_outbox_inserted`;
}
