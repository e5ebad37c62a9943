import type { KafkaModuleOptions } from '@app/kafka';
import type { OutboxRelayOptions } from '@app/outbox';

export interface EmailModuleOptions {
  /** PostgreSQL connection string of the database the app's TypeORM `DataSource` uses. */
  databaseUrl: string;
  kafka: KafkaModuleOptions;
  /** Run the outbox relay in this instance (default true). */
  runRelay?: boolean;
  /** Consume status events in this instance (default true). */
  consumeEvents?: boolean;
  /** Partitions of `mail.events` applied in parallel by one instance. */
  eventConcurrency?: number;
  relay?: Partial<OutboxRelayOptions>;
}

export const EMAIL_OPTIONS = Symbol('EMAIL_OPTIONS');
