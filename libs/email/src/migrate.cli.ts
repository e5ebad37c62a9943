#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { migrateWithLock } from '@app/common';
import { emailMigrations } from './email.migrations.js';
import { DEFAULT_EMAIL_SCHEMA } from './email.options.js';

const USAGE = `usage: email-loop migrate --database-url <postgres://…> [--schema <name>]

Creates the email module's schema (default ${DEFAULT_EMAIL_SCHEMA}) and tables, or brings them up to
date; records what it ran in the database's TypeORM "migrations" table. Safe to run from several
instances at once (one PostgreSQL advisory lock).`;

/**
 * `email-loop migrate`: the module's migrations for hosts that do not run TypeORM migrations
 * themselves (a host that does adds `emailMigrations(schema)` to its own DataSource instead).
 */
async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'database-url': { type: 'string' }, schema: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const databaseUrl = values['database-url'];
  if (values.help || positionals[0] !== 'migrate' || positionals.length !== 1 || !databaseUrl) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const schema = values.schema ?? DEFAULT_EMAIL_SCHEMA;
  const dataSource = new DataSource({ type: 'postgres', url: databaseUrl, migrations: emailMigrations(schema) });
  await dataSource.initialize();
  try {
    const applied = await migrateWithLock(dataSource);
    console.log(applied.length === 0 ? `email-loop: schema ${schema} is up to date` : `email-loop: applied ${applied.join(', ')}`);
    return 0;
  } finally {
    await dataSource.destroy();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`email-loop migrate failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
