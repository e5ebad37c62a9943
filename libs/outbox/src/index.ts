export { OutboxModule } from './outbox.module.js';
export type { OutboxModuleOptions, OutboxRelayOptions } from './outbox.options.js';
export { OutboxWriter, type OutboxRecord } from './outbox-writer.js';
export { OutboxRelay } from './outbox-relay.service.js';
export { OutboxStatsReader, type OutboxStats } from './outbox-stats.js';
export type { OutboxMessage, OutboxPublisher } from './outbox-publisher.js';
export { KafkaOutboxPublisher } from './kafka-outbox-publisher.js';
export { OutboxDeadLetters, type OutboxDeadLetter } from './outbox-dead-letters.js';
import { CreateOutbox1763900000000 } from './outbox.migration.js';
import { OutboxLeases1763900000002 } from './outbox-leases.migration.js';
export { CreateOutbox1763900000000, OutboxLeases1763900000002 };

/** The outbox's migrations, in order: add them to the migrations of every app using `OutboxModule`. */
export const OUTBOX_MIGRATIONS = [CreateOutbox1763900000000, OutboxLeases1763900000002];
