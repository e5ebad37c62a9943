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
    await manager.query(
      `INSERT INTO ${this.table} (topic, message_key, payload, headers)
       SELECT r.topic, r.message_key, r.payload, r.headers
       FROM jsonb_to_recordset($1::jsonb) AS r(topic text, message_key text, payload jsonb, headers jsonb)`,
      [
        JSON.stringify(
          records.map((r) => ({ topic: r.topic, message_key: r.key, payload: r.payload, headers: r.headers ?? {} })),
        ),
      ],
    );
    this.signal?.track(runner);
  }
}
