import { ConfigurableModuleBuilder, Module } from '@nestjs/common';
import { OUTBOX_OPTIONS, OUTBOX_PUBLISHER, type OutboxModuleExtras, type OutboxModuleOptions } from './outbox.options.js';
import { OutboxWriter } from './outbox-writer.js';
import { OutboxRelay } from './outbox-relay.service.js';
import { OutboxStatsReader } from './outbox-stats.js';
import { OutboxDeadLetters } from './outbox-dead-letters.js';
import { OutboxCommitSignal } from './outbox-commit-signal.js';

const { ConfigurableModuleClass } = new ConfigurableModuleBuilder<OutboxModuleOptions>({ optionsInjectionToken: OUTBOX_OPTIONS })
  .setClassMethodName('forRoot')
  .setExtras<OutboxModuleExtras>({ publisher: undefined as never, imports: [] }, (definition, extras) => ({
    ...definition,
    imports: [...(definition.imports ?? []), ...(extras.imports ?? [])],
    providers: [...(definition.providers ?? []), extras.publisher, { provide: OUTBOX_PUBLISHER, useExisting: extras.publisher }],
  }))
  .build();

/**
 * Transactional outbox: `OutboxWriter` adds messages inside the caller's transaction and
 * `OutboxRelay` publishes them. `forRoot(options)` or `forRootAsync({ useFactory, inject, imports })`
 * with `publisher` (and the `imports` it needs) beside them. Needs a TypeORM `DataSource` provider
 * (e.g. from `TypeOrmModule.forRoot`) and `outboxMigrations(schema)` among the app's migrations.
 */
@Module({
  providers: [OutboxCommitSignal, OutboxWriter, OutboxRelay, OutboxStatsReader, OutboxDeadLetters],
  exports: [OutboxWriter, OutboxRelay, OutboxStatsReader, OutboxDeadLetters],
})
export class OutboxModule extends ConfigurableModuleClass {}
