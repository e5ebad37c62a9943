import { Inject, Injectable } from '@nestjs/common';
import { sqlTable } from '@app/common';
import { OUTBOX_OPTIONS, type OutboxModuleOptions } from './outbox.options.js';
import type { EntityManager } from 'typeorm';

export interface OutboxRecord {
  topic: string;
  key: string;
  payload: unknown;
  headers?: Record<string, string>;
}

/**
 * Adds messages to the outbox. Always called with the caller's transaction (`manager`), so a
 * message exists if and only if the business change that produced it was committed.
 */
@Injectable()
export class OutboxWriter {
  private readonly table: string;

  constructor(@Inject(OUTBOX_OPTIONS) options: Pick<OutboxModuleOptions, 'schema'> = {}) {
    this.table = sqlTable(options.schema ?? 'public', 'outbox');
  }

  async add(manager: EntityManager, records: readonly OutboxRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (!manager.queryRunner?.isTransactionActive) {
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
  }
}
