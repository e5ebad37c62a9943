import { ConfigurableModuleBuilder, Module } from '@nestjs/common';
import { InboxStore } from './inbox-store.js';
import { INBOX_OPTIONS, type InboxModuleOptions } from './inbox.options.js';

const { ConfigurableModuleClass } = new ConfigurableModuleBuilder<InboxModuleOptions>({ optionsInjectionToken: INBOX_OPTIONS })
  .setClassMethodName('forRoot')
  .build();

/**
 * Idempotent consumption: remembers applied message ids. `forRoot({ schema })` or
 * `forRootAsync(...)`; needs `inboxMigrations(schema)`.
 */
@Module({ providers: [InboxStore], exports: [InboxStore] })
export class InboxModule extends ConfigurableModuleClass {}
