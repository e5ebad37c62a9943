import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { CONTRACT_VERSION, type SuppressionChangedMessage } from '@app/contracts';
import { InboxStore } from '@app/inbox';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { MAILER_MIGRATIONS } from '../database/migrations.js';
import { SuppressionsRepository } from './suppressions.repository.js';
import { SuppressionsService } from './suppressions.service.js';

/** The suppression list on real PostgreSQL: the operator's add/list/remove, and `mail.suppressions` applied once and in order. */
describe('SuppressionsService (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;
  let service: SuppressionsService;

  const change = (
    type: SuppressionChangedMessage['type'],
    address: string,
    overrides: Partial<SuppressionChangedMessage> = {},
  ): SuppressionChangedMessage => ({
    version: CONTRACT_VERSION,
    eventId: randomUUID(),
    type,
    address,
    reason: 'unsubscribed',
    occurredAt: new Date().toISOString(),
    ...overrides,
  });
  const listed = async () =>
    (await service.list({ limit: 100, offset: 0 })).suppressions.map(({ address, category, reason }) => ({ address, category, reason }));

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('suppressions_int', MAILER_MIGRATIONS));
    service = new SuppressionsService(dataSource, new SuppressionsRepository(), new InboxStore());
  });

  afterEach(async () => {
    await dataSource.query('TRUNCATE suppressions, inbox');
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  it('adds an entry once (lower-cased), lists it by address and page, and removes one category or all of an address', async () => {
    expect(await service.add({ address: 'Ada@Example.com', reason: 'manual' })).toMatchObject({
      created: true,
      suppression: { address: 'ada@example.com', category: null, reason: 'manual' },
    });
    expect(await service.add({ address: 'ada@example.com', reason: 'complaint' })).toMatchObject({ created: false, suppression: { reason: 'manual' } });
    await service.add({ address: 'ada@example.com', category: 'newsletter', reason: 'unsubscribed' });
    await service.add({ address: 'bob@example.com', reason: 'manual' });

    expect((await service.list({ address: 'ADA@example.com', limit: 100, offset: 0 })).suppressions).toHaveLength(2);
    expect(await service.list({ limit: 2, offset: 0 })).toMatchObject({ next: 2 });
    expect(await service.list({ limit: 2, offset: 2 })).toMatchObject({ suppressions: [{ address: 'bob@example.com' }], next: null });

    expect(await service.remove({ address: 'ada@example.com', category: 'newsletter' })).toEqual({ removed: 1 });
    expect(await service.remove({ address: 'Ada@example.com' })).toEqual({ removed: 1 });
    await expect(service.remove({ address: 'ada@example.com' })).rejects.toMatchObject({ code: 'suppression_not_found' });
    expect(await listed()).toEqual([{ address: 'bob@example.com', category: null, reason: 'manual' }]);
  });

  it('applies a run of changes once each, in order: the last word per address and category, a category-less removal clears the address', async () => {
    const emailId = randomUUID();
    const added = change('suppression.added', 'Reader@example.com', { category: 'newsletter', emailId });
    const run = [
      change('suppression.added', 'gone@example.com', { category: 'promo' }),
      change('suppression.removed', 'gone@example.com'), // clears promo (and anything listed before)
      change('suppression.added', 'gone@example.com', { category: 'digest' }),
      added,
      added, // a copy in the same run
      change('suppression.added', 'flip@example.com'),
      change('suppression.removed', 'flip@example.com'),
    ];
    await service.add({ address: 'gone@example.com', reason: 'manual' });
    expect(await service.applyChanges(run)).toEqual(['processed', 'processed', 'processed', 'processed', 'duplicate', 'processed', 'processed']);
    expect(await listed()).toEqual([
      { address: 'gone@example.com', category: 'digest', reason: 'unsubscribed' },
      { address: 'reader@example.com', category: 'newsletter', reason: 'unsubscribed' },
    ]);
    const [entry] = await dataSource.query(`SELECT source_email_id AS "sourceEmailId" FROM suppressions WHERE address = 'reader@example.com'`);
    expect(entry.sourceEmailId).toBe(emailId);

    // Redelivered: every message is a duplicate and changes nothing, even after the list moved on.
    await service.remove({ address: 'reader@example.com' });
    expect(await service.applyChanges(run)).toEqual(run.map(() => 'duplicate'));
    expect(await listed()).toEqual([{ address: 'gone@example.com', category: 'digest', reason: 'unsubscribed' }]);
  });
});
