import type { ModuleMetadata, Type } from '@nestjs/common';
import type { OutboxPublisher } from './outbox-publisher.js';

export interface OutboxRelayOptions {
  /** Rows claimed and published per round trip. */
  batchSize: number;
  /** Fallback poll when no NOTIFY arrives (NOTIFY is the normal wake-up). */
  pollIntervalMs: number;
  /** A publish that takes longer is abandoned and retried; keeps row locks short. */
  publishTimeoutMs: number;
  /** Published rows older than this are deleted. */
  retentionMs: number;
  /** How often retention runs. */
  cleanupIntervalMs: number;
}

export interface OutboxModuleOptions {
  /** Connection string used for the LISTEN connection (the relay's wake-up channel). */
  connectionString: string;
  /** The transport the relay publishes to (e.g. `KafkaOutboxPublisher`). */
  publisher: Type<OutboxPublisher>;
  /** Modules that provide what `publisher` needs. */
  imports?: ModuleMetadata['imports'];
  /** Whether this instance runs the relay; writers work either way. Default true. */
  runRelay?: boolean;
  relay?: Partial<OutboxRelayOptions>;
}

export const DEFAULT_RELAY_OPTIONS: OutboxRelayOptions = {
  batchSize: 200,
  pollIntervalMs: 1_000,
  publishTimeoutMs: 10_000,
  retentionMs: 24 * 3_600_000,
  cleanupIntervalMs: 60_000,
};

export const OUTBOX_OPTIONS = Symbol('OUTBOX_OPTIONS');
export const OUTBOX_PUBLISHER = Symbol('OUTBOX_PUBLISHER');

/** The channel the insert trigger notifies; see the migration. */
export const OUTBOX_CHANNEL = 'outbox_inserted';
