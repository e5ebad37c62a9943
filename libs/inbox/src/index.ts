import type { MigrationInterface } from 'typeorm';
import { createInboxMigration } from './inbox.migration.js';
import { createInboxRetentionIndexMigration } from './inbox-retention-index.migration.js';

export { InboxModule } from './inbox.module.js';
export type { InboxModuleOptions } from './inbox.options.js';
export { InboxStore } from './inbox-store.js';

/**
 * The inbox's migrations, in order, with its table in `schema`: add them to the migrations of
 * every app that has an inbox (with the same `schema` option).
 */
export function inboxMigrations(schema = 'public'): (new () => MigrationInterface)[] {
  return [createInboxMigration(schema), createInboxRetentionIndexMigration(schema)];
}

/** {@link inboxMigrations} in `public`. */
export const INBOX_MIGRATIONS = inboxMigrations();
