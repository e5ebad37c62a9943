import { describe, expect, it } from 'vitest';
import { emailMigrations } from './email.migrations.js';

/** TypeORM records a migration by name: a renamed migration would run again on a deployed database. */
const migrationNames = (schema?: string): string[] => emailMigrations(schema).map((Migration) => new Migration().name ?? Migration.name);

describe('emailMigrations()', () => {
  it('keeps in `public` the names earlier versions recorded, so an upgraded database runs none of them again', () => {
    expect(migrationNames('public')).toEqual([
      'CreateOutbox1763900000000',
      'OutboxLeases1763900000002',
      'OutboxDropNotify1763900000003',
      'CreateInbox1763900000001',
      'InboxRetentionIndex1763900000010',
      'CreateEmails1763900000100',
      'EmailsRetentionIndex1763900000110',
      'EmailsRetentionIndexV21763900000120',
      'CreateEmailTemplates1763900000130',
      'CreateUnsubscribes1763900000160',
    ]);
  });

  it('names the migrations of another schema after it, so two schemas in one database migrate independently', () => {
    const names = migrationNames('shop_mail');
    expect(names).toHaveLength(10);
    expect(names.every((name) => name.includes('_shop_mail_'))).toBe(true);
    expect(new Set([...names, ...migrationNames('public')]).size).toBe(20);
  });

  it('refuses a schema name that needs quoting or would make the outbox channel name too long', () => {
    expect(() => emailMigrations('Shop')).toThrow();
    expect(() => emailMigrations('a; DROP TABLE x')).toThrow();
    expect(() => emailMigrations('s'.repeat(48))).toThrow();
    expect(() => emailMigrations('s'.repeat(47))).not.toThrow();
  });
});
