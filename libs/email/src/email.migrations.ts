import type { MigrationInterface } from 'typeorm';
import { assertSqlSchema } from '@app/common';
import { inboxMigrations } from '@app/inbox';
import { outboxMigrations } from '@app/outbox';
import { createEmailsMigration } from './email.migration.js';
import { createEmailsRetentionIndexMigration } from './emails-retention-index.migration.js';
import { createEmailsRetentionIndexV2Migration } from './emails-retention-index-v2.migration.js';
import { DEFAULT_EMAIL_SCHEMA } from './email.options.js';
import { createEmailTemplatesMigration } from './templates/templates.migration.js';
import { createUnsubscribesMigration } from './unsubscribe/unsubscribes.migration.js';

/** A TypeORM migration class, as `DataSourceOptions.migrations` takes it. */
export type EmailMigration = new () => MigrationInterface;

/**
 * The migrations the email module needs, in order, with every table in `schema` (created if
 * missing): add them to your `DataSource`'s `migrations` and pass the same `schema` to
 * `EmailModule`. Their names carry the schema (except in `public`), so two schemas in one
 * database migrate independently. Without TypeORM migrations, run the package's
 * `email-loop migrate --database-url <url> [--schema <name>]` instead.
 */
export function emailMigrations(schema: string = DEFAULT_EMAIL_SCHEMA): EmailMigration[] {
  assertSqlSchema(schema);
  return [
    ...outboxMigrations(schema),
    ...inboxMigrations(schema),
    createEmailsMigration(schema),
    createEmailsRetentionIndexMigration(schema),
    createEmailsRetentionIndexV2Migration(schema),
    createEmailTemplatesMigration(schema),
    createUnsubscribesMigration(schema),
  ];
}

/** {@link emailMigrations} for the default schema ({@link DEFAULT_EMAIL_SCHEMA}). */
export const EMAIL_MIGRATIONS: EmailMigration[] = emailMigrations();
