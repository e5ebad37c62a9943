import { Inject, Injectable } from '@nestjs/common';
import { sqlTable } from '@app/common';
import type { EntityManager } from 'typeorm';
import { OUTBOX_OPTIONS, type OutboxModuleOptions } from './outbox.options.js';
import { OutboxCommitSignal } from './outbox-commit-signal.js';

export interface OutboxRecord {
  topic: string;
  key: string;
  payload: unknown;
  headers?: Record<string, string>;
}

/** SQL with `$n` placeholders, and the values they stand for. */
export interface SqlStatement {
  sql: string;
  params: unknown[];
}

/**
 * The outbox INSERT for `records`, to be placed in a caller's own statement (typically a
 * data-modifying CTE beside the change that produced the records: a single statement is atomic,
 * so the rows exist if and only if that change was committed). Its placeholders are numbered from
 * `$firstParam`; the rows are inserted only where `onlyIf`, a boolean SQL expression of the
 * caller's statement (e.g. `EXISTS (SELECT 1 FROM updated)`), holds.
 */
export type OutboxInsert = (firstParam: number, onlyIf?: string) => SqlStatement;

/**
 * Adds messages to the outbox. Always called with the caller's transaction (`manager`), so a
 * message exists if and only if the business change that produced it was committed. When that
 * transaction commits, `signal` wakes this process's relay (without a signal, e.g. in tests
 * and tools, the relay's poll finds the rows).
 */
@Injectable()
export class OutboxWriter {
  private readonly table: string;

  constructor(
    @Inject(OUTBOX_OPTIONS) options: Pick<OutboxModuleOptions, 'schema'> = {},
    private readonly signal?: OutboxCommitSignal,
  ) {
    this.table = sqlTable(options.schema ?? 'public', 'outbox');
  }

  async add(manager: EntityManager, records: readonly OutboxRecord[]): Promise<void> {
    if (records.length === 0) return;
    const runner = manager.queryRunner;
    if (!runner?.isTransactionActive) {
      throw new Error('OutboxWriter.add() must run inside a transaction (pass the transaction’s EntityManager)');
    }
    const { sql, params } = this.insert(records)(1);
    await manager.query(sql, params);
    this.signal?.track(runner);
  }

  /**
   * Call after a statement that carried an {@link insert} ran: wakes this process's relay at once
   * when the statement committed on its own (no transaction), or after the commit of the
   * transaction it ran in.
   */
  written(manager: EntityManager): void {
    const runner = manager.queryRunner;
    if (runner?.isTransactionActive) this.signal?.track(runner);
    else this.signal?.committed();
  }

  /**
   * `records` as an {@link OutboxInsert} for a statement of the caller's, which must run in the
   * same transaction as the change (one statement is one). The outbox's SQL stays here.
   */
  insert(records: readonly OutboxRecord[]): OutboxInsert {
    const rows = JSON.stringify(records.map((r) => ({ topic: r.topic, message_key: r.key, payload: r.payload, headers: r.headers ?? {} })));
    return (firstParam, onlyIf) => ({
      sql: `INSERT INTO ${this.table} (topic, message_key, payload, headers)
       SELECT r.topic, r.message_key, r.payload, r.headers
       FROM jsonb_to_recordset($${firstParam}::jsonb) AS r(topic text, message_key text, payload jsonb, headers jsonb)${onlyIf ? `
       WHERE ${onlyIf}` : ''}`,
      params: [rows],
    });
  }
}
