import { Module, type DynamicModule } from '@nestjs/common';
import { OUTBOX_OPTIONS, OUTBOX_PUBLISHER, type OutboxModuleOptions } from './outbox.options.js';
import { OutboxWriter } from './outbox-writer.js';
import { OutboxRelay } from './outbox-relay.service.js';
import { OutboxStatsReader } from './outbox-stats.js';
import { OutboxDeadLetters } from './outbox-dead-letters.js';

/**
 * Transactional outbox: `OutboxWriter` adds messages inside the caller's transaction and
 * `OutboxRelay` publishes them. Needs a TypeORM `DataSource` provider (e.g. from
 * `TypeOrmModule.forRoot`) and `OUTBOX_MIGRATIONS` among the app's migrations.
 */
@Module({})
export class OutboxModule {
  static forRoot(options: OutboxModuleOptions): DynamicModule {
    return {
      module: OutboxModule,
      imports: options.imports ?? [],
      providers: [
        { provide: OUTBOX_OPTIONS, useValue: options },
        options.publisher,
        { provide: OUTBOX_PUBLISHER, useExisting: options.publisher },
        OutboxWriter,
        OutboxRelay,
        OutboxStatsReader,
        OutboxDeadLetters,
      ],
      exports: [OutboxWriter, OutboxRelay, OutboxStatsReader, OutboxDeadLetters],
    };
  }
}
