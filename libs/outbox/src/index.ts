export { OutboxModule } from './outbox.module.js';
export type { OutboxModuleOptions, OutboxRelayOptions } from './outbox.options.js';
export { OutboxWriter, type OutboxRecord } from './outbox-writer.js';
export { OutboxRelay } from './outbox-relay.service.js';
export { OutboxStatsReader, type OutboxStats } from './outbox-stats.js';
export type { OutboxMessage, OutboxPublisher } from './outbox-publisher.js';
export { KafkaOutboxPublisher } from './kafka-outbox-publisher.js';
export { CreateOutbox1763900000000 } from './outbox.migration.js';
