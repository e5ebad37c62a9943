import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { sqlTable } from '@app/common';
import { INBOX_OPTIONS, type InboxModuleOptions } from './inbox.options.js';

/** Statements built from their parameters, so that tests EXPLAIN exactly what the store runs. */
export const inboxQueries = {
  /**
   * Up to `limit` rows processed more than `olderThanMs` ago, found through
   * `inbox_processed_at_idx` and deleted by row address (a TID scan), so the plan does not depend
   * on the size of the table. The rows are locked from the select to the delete, so their
   * addresses cannot change in between; rows another transaction holds are skipped.
   */
  deleteProcessed: (olderThanMs: number, limit: number, schema = 'public') => ({
    sql: `DELETE FROM ${sqlTable(schema, 'inbox')} WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM ${sqlTable(schema, 'inbox')}
            WHERE processed_at < now() - $1::float8 * interval '1 millisecond'
            LIMIT $2
            FOR UPDATE SKIP LOCKED))`,
    params: [olderThanMs, limit],
  }),
};

/**
 * Remembers which messages a consumer has applied. Call `recordOnce()` first thing in the
 * transaction that applies a message: it returns false for a message seen before, and the
 * caller then returns `duplicate` without any side effect.
 */
@Injectable()
export class InboxStore {
  private readonly schema: string;

  constructor(@Inject(INBOX_OPTIONS) options: InboxModuleOptions = {}) {
    this.schema = options.schema ?? 'public';
  }

  async recordOnce(manager: EntityManager, consumer: string, messageId: string): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `INSERT INTO ${sqlTable(this.schema, 'inbox')} (consumer, message_id) VALUES ($1, $2)
       ON CONFLICT DO NOTHING
       RETURNING 1`,
      [consumer, messageId],
    );
    return rows.length === 1;
  }

  /**
   * `recordOnce()` for many messages in one statement: returns the ids recorded now, so an id
   * missing from the result was seen before (the caller returns `duplicate` for it). An id given
   * twice is recorded once. The rows are inserted in id order, so two transactions recording
   * overlapping batches take the key locks in the same order and cannot deadlock on them.
   */
  async recordMany(manager: EntityManager, consumer: string, messageIds: readonly string[]): Promise<Set<string>> {
    const ids = [...new Set(messageIds)].sort();
    if (ids.length === 0) return new Set();
    const rows: { message_id: string }[] = await manager.query(
      `INSERT INTO ${sqlTable(this.schema, 'inbox')} (consumer, message_id)
       SELECT $1, id FROM unnest($2::text[]) WITH ORDINALITY AS m(id, n) ORDER BY n
       ON CONFLICT DO NOTHING
       RETURNING message_id`,
      [consumer, ids],
    );
    return new Set(rows.map((r) => r.message_id));
  }

  /**
   * Forgets up to `limit` messages processed more than `olderThanMs` ago; returns how many.
   * A forgotten message would be applied again if it were delivered again, so `olderThanMs` must
   * exceed how long the broker can still deliver it (see `TOPIC_MESSAGE_MAX_AGE_DAYS` in
   * `@app/kafka`): the owner of the inbox enforces that when it configures retention.
   */
  async deleteProcessedBefore(manager: EntityManager, olderThanMs: number, limit: number): Promise<number> {
    const { sql, params } = inboxQueries.deleteProcessed(olderThanMs, limit, this.schema);
    const [, deleted] = (await manager.query(sql, params)) as [unknown, number];
    return deleted ?? 0;
  }
}
