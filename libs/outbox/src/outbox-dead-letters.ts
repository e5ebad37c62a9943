import { Inject, Injectable } from '@nestjs/common';
import { sqlTable } from '@app/common';
import { OUTBOX_OPTIONS, type OutboxModuleOptions } from './outbox.options.js';
import { DataSource } from 'typeorm';

export interface OutboxDeadLetter {
  id: string;
  topic: string;
  key: string;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  deadLetteredAt: Date;
}

/** Inspect and requeue outbox rows the transport rejected permanently. */
@Injectable()
export class OutboxDeadLetters {
  private readonly table: string;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(OUTBOX_OPTIONS) options: Pick<OutboxModuleOptions, 'schema'> = {},
  ) {
    this.table = sqlTable(options.schema ?? 'public', 'outbox');
  }

  async list(limit = 100): Promise<OutboxDeadLetter[]> {
    const rows: {
      id: string;
      topic: string;
      message_key: string;
      attempts: number;
      last_error: string | null;
      created_at: Date;
      dead_lettered_at: Date;
    }[] = await this.dataSource.query(
      `SELECT id::text AS id, topic, message_key, attempts, last_error, created_at, dead_lettered_at
       FROM ${this.table} WHERE dead_lettered_at IS NOT NULL ORDER BY id LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      id: r.id,
      topic: r.topic,
      key: r.message_key,
      attempts: r.attempts,
      lastError: r.last_error,
      createdAt: r.created_at,
      deadLetteredAt: r.dead_lettered_at,
    }));
  }

  /**
   * Puts dead letters back in line (after the cause was fixed, e.g. the topic was created or the
   * broker's size limit raised). Returns the ids that were requeued; unknown ids are ignored.
   * A requeued row goes out after rows of its key that were published meanwhile.
   */
  async requeue(ids: readonly string[]): Promise<string[]> {
    const [rows] = (await this.dataSource.query(
      `UPDATE ${this.table} SET dead_lettered_at = NULL, attempts = 0, retry_at = NULL, last_error = NULL
       WHERE id = ANY($1::bigint[]) AND dead_lettered_at IS NOT NULL
       RETURNING id::text AS id`,
      [ids],
    )) as [{ id: string }[], number];
    return rows.map((r) => r.id);
  }
}
