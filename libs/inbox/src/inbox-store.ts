import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/**
 * Remembers which messages a consumer has applied. Call `recordOnce()` first thing in the
 * transaction that applies a message: it returns false for a message seen before, and the
 * caller then returns `duplicate` without any side effect.
 */
@Injectable()
export class InboxStore {
  async recordOnce(manager: EntityManager, consumer: string, messageId: string): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `INSERT INTO inbox (consumer, message_id) VALUES ($1, $2)
       ON CONFLICT DO NOTHING
       RETURNING 1`,
      [consumer, messageId],
    );
    return rows.length === 1;
  }
}
