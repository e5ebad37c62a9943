import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaMigrationName, sqlTable } from '@app/common';

/**
 * Creates `email_templates` (one row per version of a named template; a version is never
 * changed) and adds `emails.template`, the `{ name, version }` an email was rendered from.
 */
export function createEmailTemplatesMigration(schema: string): new () => MigrationInterface {
  const templates = sqlTable(schema, 'email_templates');
  const emails = sqlTable(schema, 'emails');
  return class CreateEmailTemplates implements MigrationInterface {
    name = schemaMigrationName('CreateEmailTemplates', 1763900000130, schema);

    async up(q: QueryRunner): Promise<void> {
      await q.query(`
        CREATE TABLE ${templates} (
          name        text        NOT NULL,
          version     integer     NOT NULL CHECK (version >= 1),
          engine      text        NOT NULL,
          subject     text        NOT NULL,
          html        text,
          text        text,
          variables   jsonb       NOT NULL DEFAULT '[]',
          ttl_seconds integer,
          created_at  timestamptz NOT NULL DEFAULT now(),
          -- The primary key's index also finds a name's latest version (a backward scan).
          PRIMARY KEY (name, version)
        )`);
      // Nullable, no default: adding it rewrites nothing, and emails without a template stay as they are.
      await q.query(`ALTER TABLE ${emails} ADD COLUMN template jsonb`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${emails} DROP COLUMN template`);
      await q.query(`DROP TABLE ${templates}`);
    }
  };
}
