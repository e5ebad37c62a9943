import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { sqlTable } from '@app/common';
import { DEFAULT_EMAIL_SCHEMA, EMAIL_OPTIONS } from '../email.options.js';

export interface NewUnsubscribe {
  eventId: string;
  /** Lower-case: the table refuses anything else, so one address is one opt-out whatever its case. */
  address: string;
  category: string | null;
  emailId: string;
}

export interface UnsubscribeRow extends NewUnsubscribe {
  createdAt: Date;
}

/** SQL for `unsubscribes`. Every method runs on the manager it is given. */
@Injectable()
export class UnsubscribesRepository {
  private readonly table: string;

  constructor(@Inject(EMAIL_OPTIONS) options: { schema?: string } = {}) {
    this.table = sqlTable(options.schema ?? DEFAULT_EMAIL_SCHEMA, 'unsubscribes');
  }

  /**
   * Records the opt-outs in one statement; one that exists already (same address and category)
   * is left as it is. Returns the rows inserted now, so a repeated unsubscribe returns none.
   */
  async insertNew(manager: EntityManager, rows: readonly NewUnsubscribe[]): Promise<UnsubscribeRow[]> {
    if (rows.length === 0) return [];
    return manager.query(
      `INSERT INTO ${this.table} (event_id, address, category, email_id)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[])
       ON CONFLICT (address, (coalesce(category, ''))) DO NOTHING
       RETURNING event_id AS "eventId", address, category, email_id AS "emailId", created_at AS "createdAt"`,
      [rows.map((r) => r.eventId), rows.map((r) => r.address), rows.map((r) => r.category), rows.map((r) => r.emailId)],
    );
  }

  /** The opt-outs of an address, oldest first. */
  async findByAddress(manager: EntityManager, address: string): Promise<UnsubscribeRow[]> {
    return manager.query(
      `SELECT event_id AS "eventId", address, category, email_id AS "emailId", created_at AS "createdAt"
       FROM ${this.table} WHERE address = $1 ORDER BY id`,
      [address.toLowerCase()],
    );
  }
}
