import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { PageRequest } from '@app/common';
import type { SuppressionReason } from '@app/contracts';
import { addressKey } from '../checks/mail-check.js';

/** An entry of the suppression list. `category` null: every category. */
export interface Suppression {
  address: string;
  category: string | null;
  reason: SuppressionReason;
  sourceEmailId: string | null;
  createdAt: Date;
}

export type NewSuppression = Omit<Suppression, 'createdAt'>;

/** The keyset of the list: address and category (`''` for none). */
export type SuppressionListKey = [address: string, category: string];

const COLUMNS = `address, category, reason, source_email_id AS "sourceEmailId", created_at AS "createdAt"`;

/**
 * SQL for `suppressions`. Addresses are stored and matched lower-case (`addressKey`); the pair
 * (address, category) is unique with a null category counted as one value (`NULLS NOT DISTINCT`).
 * Every method runs on the manager it is given.
 */
@Injectable()
export class SuppressionsRepository {
  /** Every entry for any of these addresses, in one query (the suppression check's one read per batch). */
  async findForAddresses(manager: EntityManager, addresses: readonly string[]): Promise<Suppression[]> {
    if (addresses.length === 0) return [];
    return manager.query(`SELECT ${COLUMNS} FROM suppressions WHERE address = ANY($1::text[])`, [[...new Set(addresses.map(addressKey))]]);
  }

  /**
   * Adds the entries in one statement; an (address, category) already listed keeps its first
   * reason and time. Returns the entries it added. Inserted in key order, so concurrent writers
   * take the key locks in the same order and cannot deadlock.
   */
  async addMany(manager: EntityManager, entries: readonly NewSuppression[]): Promise<Suppression[]> {
    if (entries.length === 0) return [];
    const rows = entries.map((e) => ({ address: addressKey(e.address), category: e.category, reason: e.reason, source_email_id: e.sourceEmailId }));
    return manager.query(
      `INSERT INTO suppressions (address, category, reason, source_email_id)
       SELECT r.address, r.category, r.reason, r.source_email_id
       FROM jsonb_to_recordset($1::jsonb) AS r(address text, category text, reason text, source_email_id uuid)
       ORDER BY r.address, r.category NULLS FIRST
       ON CONFLICT (address, category) DO NOTHING
       RETURNING ${COLUMNS}`,
      [JSON.stringify(rows)],
    );
  }

  /** The entry for this address and category (null: the every-category one), if listed. */
  async find(manager: EntityManager, address: string, category: string | null): Promise<Suppression | null> {
    const rows: Suppression[] = await manager.query(
      `SELECT ${COLUMNS} FROM suppressions WHERE address = $1 AND category IS NOT DISTINCT FROM $2`,
      [addressKey(address), category],
    );
    return rows[0] ?? null;
  }

  /**
   * Removes, in one statement, every entry of the `everyCategory` addresses and the listed
   * (address, category) pairs (a null category: the every-category entry); returns how many.
   */
  async remove(
    manager: EntityManager,
    removals: { everyCategory?: readonly string[]; pairs?: readonly { address: string; category: string | null }[] },
  ): Promise<number> {
    const everyCategory = (removals.everyCategory ?? []).map(addressKey);
    const pairs = (removals.pairs ?? []).map((p) => ({ address: addressKey(p.address), category: p.category }));
    if (everyCategory.length === 0 && pairs.length === 0) return 0;
    const [, removed] = (await manager.query(
      `DELETE FROM suppressions s
       WHERE s.address = ANY($1::text[])
          OR EXISTS (SELECT 1 FROM jsonb_to_recordset($2::jsonb) AS p(address text, category text)
                     WHERE p.address = s.address AND p.category IS NOT DISTINCT FROM s.category)`,
      [everyCategory, JSON.stringify(pairs)],
    )) as [unknown, number];
    return removed ?? 0;
  }

  /** A page of the list in (address, category) order, optionally for one address. */
  /**
   * Entries by address then category (none first), after the key `after`; one row more than the
   * page, which tells there is a next one. A category is never empty, so `''` stands for none.
   */
  async list(manager: EntityManager, options: { address?: string } & PageRequest<SuppressionListKey>): Promise<Suppression[]> {
    return manager.query(
      `SELECT ${COLUMNS} FROM suppressions
       WHERE ($1::text IS NULL OR address = $1) AND (address, coalesce(category, '')) > ($3::text, $4::text)
       ORDER BY address, coalesce(category, '')
       LIMIT $2`,
      [options.address === undefined ? null : addressKey(options.address), options.limit + 1, options.after?.[0] ?? '', options.after?.[1] ?? ''],
    );
  }
}
