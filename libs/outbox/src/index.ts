import type { MigrationInterface } from 'typeorm';
import { createOutboxMigration } from './outbox.migration.js';
import { createOutboxLeasesMigration } from './outbox-leases.migration.js';
import { createOutboxDropNotifyMigration } from './outbox-drop-notify.migration.js';

export { OutboxModule } from './outbox.module.js';
export type { OutboxModuleExtras, OutboxModuleOptions, OutboxRelayOptions } from './outbox.options.js';
export { OutboxWriter, type OutboxInsert, type OutboxRecord, type SqlStatement } from './outbox-writer.js';
export { OutboxRelay } from './outbox-relay.service.js';
export { OutboxStatsReader, type OutboxStats } from './outbox-stats.js';
export type { OutboxMessage, OutboxPublisher } from './outbox-publisher.js';
export { KafkaOutboxPublisher } from './kafka-outbox-publisher.js';
export { OutboxDeadLetters, type OutboxDeadLetter } from './outbox-dead-letters.js';

/**
 * The outbox's migrations, in order, with its table in `schema`: add them to the migrations of
 * every app using `OutboxModule` (with the same `schema` option).
 */
export function outboxMigrations(schema = 'public'): (new () => MigrationInterface)[] {
  return [createOutboxMigration(schema), createOutboxLeasesMigration(schema), createOutboxDropNotifyMigration(schema)];
}

/** {@link outboxMigrations} in `public`. */
export const OUTBOX_MIGRATIONS = outboxMigrations();
