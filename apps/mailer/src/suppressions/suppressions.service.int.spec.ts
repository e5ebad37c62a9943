import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { InvalidInputError, parseOrThrow } from '@app/common';
import { CONTRACT_VERSION, type SuppressionChangedMessage } from '@app/contracts';
import { InboxStore } from '@app/inbox';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { MAILER_MIGRATIONS } from '../database/migrations.js';
import { SuppressionsRepository } from './suppressions.repository.js';
import { SuppressionsService, suppressionListQuerySchema } from './suppressions.service.js';

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
    (await service.list({ limit: 100 })).items.map(({ address, category, reason }) => ({ address, category, reason }));

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

    expect((await service.list({ address: 'ADA@example.com', limit: 100 })).items).toHaveLength(2);
    const first = await service.list({ limit: 2 });
    expect(first.items.map((s) => [s.address, s.category])).toEqual([['ada@example.com', null], ['ada@example.com', 'newsletter']]);
    const after = parseOrThrow(suppressionListQuerySchema, { cursor: first.nextCursor, limit: '2' }, 'query').cursor;
    expect(await service.list({ limit: 2, ...(after && { after }) })).toMatchObject({ items: [{ address: 'bob@example.com' }], nextCursor: null });

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

  it('walks every entry once, in order, through pages of any size while entries are added, and refuses a bad cursor or limit', async () => {
    const addresses = Array.from({ length: 17 }, (_, i) => `user${String(i).padStart(2, '0')}@example.com`);
    for (const address of addresses) {
      await service.add({ address, reason: 'manual' });
      await service.add({ address, category: 'promo', reason: 'unsubscribed' });
    }
    const seen: string[] = [];
    let query = parseOrThrow(suppressionListQuerySchema, { limit: '4' }, 'query');
    for (let n = 0; ; n++) {
      const page = await service.list({ limit: query.limit, ...(query.cursor && { after: query.cursor }) });
      seen.push(...page.items.map((s) => `${s.address}/${s.category ?? ''}`));
      if (page.nextCursor === null) break;
      await service.add({ address: `zz-late${n}@example.com`, reason: 'manual' }); // sorts after every user: seen once, at the end
      await service.add({ address: `aaa${n}@example.com`, reason: 'manual' }); // sorts before: never seen
      query = parseOrThrow(suppressionListQuerySchema, { limit: '4', cursor: page.nextCursor }, 'query');
    }
    const expected = addresses.flatMap((a) => [`${a}/`, `${a}/promo`]);
    expect(seen.filter((s) => s.startsWith('user'))).toEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.some((s) => s.startsWith('aaa'))).toBe(false);

    for (const bad of [{ cursor: 'nope!' }, { cursor: Buffer.from('[1,2]').toString('base64url') }, { limit: '201' }, { limit: '0' }, { offset: '2' }]) {
      expect(() => parseOrThrow(suppressionListQuerySchema, bad, 'query')).toThrow(InvalidInputError);
    }
    expect(parseOrThrow(suppressionListQuerySchema, {}, 'query').limit).toBe(50);
  });
});
