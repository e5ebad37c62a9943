import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** SQL for the dedup keys and frequency counters (`mail_dedup_keys`, `mail_frequency_counts`); each call is one statement. */
@Injectable()
export class SendLimitsRepository {
  /**
   * Claims each key for its email until `now + windowSeconds`, unless another email holds it
   * unexpired; returns the keys claimed. A key this same email holds counts as claimed (the
   * claim is idempotent). Keys are written in order, so concurrent batches wait for each other
   * instead of deadlocking.
   */
  async claimDedupKeys(
    manager: EntityManager,
    claims: readonly { key: string; emailId: string; windowSeconds: number }[],
    now: Date,
  ): Promise<Set<string>> {
    if (claims.length === 0) return new Set();
    const rows: { key: string }[] = await manager.query(
      `INSERT INTO mail_dedup_keys (key, email_id, expires_at)
       SELECT c.key, c.email_id, $2::timestamptz + c.window_seconds * interval '1 second'
       FROM jsonb_to_recordset($1::jsonb) AS c(key text, email_id uuid, window_seconds float8)
       ORDER BY c.key
       ON CONFLICT (key) DO UPDATE SET email_id = EXCLUDED.email_id, expires_at = EXCLUDED.expires_at
         WHERE mail_dedup_keys.expires_at <= $2::timestamptz OR mail_dedup_keys.email_id = EXCLUDED.email_id
       RETURNING key`,
      [JSON.stringify(claims.map((c) => ({ key: c.key, email_id: c.emailId, window_seconds: c.windowSeconds }))), now],
    );
    return new Set(rows.map((row) => row.key));
  }

  /**
   * Adds `count` to each (recipient, category) counter of `day`; returns what each counter held
   * before, keyed `recipient\ncategory`. One upsert: the row lock it takes orders concurrent
   * batches, and `count_before` (set from the row as it was) tells each where it started.
   */
  async countSends(
    manager: EntityManager,
    counts: readonly { recipient: string; category: string; count: number }[],
    day: string,
  ): Promise<Map<string, number>> {
    if (counts.length === 0) return new Map();
    const rows: { recipient: string; category: string; countBefore: number }[] = await manager.query(
      `INSERT INTO mail_frequency_counts AS f (recipient, category, day, count)
       SELECT c.recipient, c.category, $2::date, c.count
       FROM jsonb_to_recordset($1::jsonb) AS c(recipient text, category text, count int)
       ORDER BY c.recipient, c.category
       ON CONFLICT (recipient, category, day) DO UPDATE SET count = f.count + EXCLUDED.count, count_before = f.count
       RETURNING recipient, category, count_before AS "countBefore"`,
      [JSON.stringify(counts), day],
    );
    return new Map(rows.map((row) => [`${row.recipient}\n${row.category}`, row.countBefore]));
  }

  /** Deletes up to `limit` dedup keys whose window ended; returns how many (retention). */
  async deleteExpiredDedupKeys(manager: EntityManager, limit: number): Promise<number> {
    const [, deleted] = (await manager.query(
      `DELETE FROM mail_dedup_keys WHERE key = ANY (ARRAY(
         SELECT key FROM mail_dedup_keys WHERE expires_at < now() LIMIT $1 FOR UPDATE SKIP LOCKED))`,
      [limit],
    )) as [unknown, number];
    return deleted ?? 0;
  }

  /** Deletes up to `limit` counters of days before yesterday (UTC); returns how many (retention). */
  async deleteOldCounters(manager: EntityManager, limit: number): Promise<number> {
    const [, deleted] = (await manager.query(
      `DELETE FROM mail_frequency_counts WHERE ctid = ANY (ARRAY(
         SELECT ctid FROM mail_frequency_counts WHERE day < (now() AT TIME ZONE 'UTC')::date - 1 LIMIT $1 FOR UPDATE SKIP LOCKED))`,
      [limit],
    )) as [unknown, number];
    return deleted ?? 0;
  }
}
