import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { pageOf, type Page, type PageRequest } from '@app/common';

/** Who replayed: an API key (its id and name) or the CLI (the operating-system user). */
export interface ReplayActor {
  keyId: string | null;
  name: string;
}

export interface DeadLetterReplay {
  id: string;
  origin: 'kafka' | 'outbox';
  /** Kafka: the dead-letter topic (logical), partition and offset replayed. */
  deadLetterTopic: string | null;
  deadLetterPartition: number | null;
  deadLetterOffset: string | null;
  /** Outbox: the row requeued. */
  outboxId: string | null;
  /** Where the message went again (logical topic). */
  targetTopic: string;
  key: string | null;
  replayedByKeyId: string | null;
  replayedBy: string;
  replayedAt: Date;
}

export type NewReplay = Pick<DeadLetterReplay, 'id' | 'origin' | 'targetTopic' | 'key'> &
  Partial<Pick<DeadLetterReplay, 'deadLetterTopic' | 'deadLetterPartition' | 'deadLetterOffset' | 'outboxId'>>;

/** The sort key of the replay list (newest first): `replayed_at` to the millisecond, then id. */
export const replayCursorSchema = z.object({ at: z.iso.datetime(), id: z.uuid() });
export type ReplayCursor = z.infer<typeof replayCursorSchema>;

interface Row {
  id: string;
  origin: 'kafka' | 'outbox';
  dead_letter_topic: string | null;
  dead_letter_partition: number | null;
  dead_letter_offset: string | null;
  outbox_id: string | null;
  target_topic: string;
  message_key: string | null;
  replayed_by_key_id: string | null;
  replayed_by: string;
  replayed_at: Date;
}

/** The `dead_letter_replays` table: the record of every replay. */
@Injectable()
export class DeadLetterReplaysRepository {
  constructor(private readonly dataSource: DataSource) {}

  async record(replay: NewReplay, actor: ReplayActor): Promise<DeadLetterReplay> {
    const [row]: Row[] = await this.dataSource.query(
      `INSERT INTO dead_letter_replays (id, origin, dead_letter_topic, dead_letter_partition, dead_letter_offset, outbox_id, target_topic, message_key, replayed_by_key_id, replayed_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       RETURNING id, origin, dead_letter_topic, dead_letter_partition, dead_letter_offset::text, outbox_id::text, target_topic, message_key, replayed_by_key_id, replayed_by, replayed_at`,
      [
        replay.id,
        replay.origin,
        replay.deadLetterTopic ?? null,
        replay.deadLetterPartition ?? null,
        replay.deadLetterOffset ?? null,
        replay.outboxId ?? null,
        replay.targetTopic,
        replay.key,
        actor.keyId,
        actor.name,
      ],
    );
    return replayOf(row!);
  }

  /** Takes back the record of a replay that did not happen (its publish failed). */
  async forget(id: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM dead_letter_replays WHERE id = $1`, [id]);
  }

  async list({ limit, after }: PageRequest<ReplayCursor>): Promise<Page<DeadLetterReplay>> {
    const rows: Row[] = await this.dataSource.query(
      `SELECT id, origin, dead_letter_topic, dead_letter_partition, dead_letter_offset::text, outbox_id::text, target_topic, message_key, replayed_by_key_id, replayed_by, replayed_at
       FROM dead_letter_replays
       ${after ? `WHERE (replayed_at, id) < ($2::timestamptz, $3::uuid)` : ''}
       ORDER BY replayed_at DESC, id DESC LIMIT $1`,
      after ? [limit + 1, after.at, after.id] : [limit + 1],
    );
    return pageOf(rows.map(replayOf), limit, (r) => ({ at: r.replayedAt.toISOString(), id: r.id }));
  }
}

function replayOf(r: Row): DeadLetterReplay {
  return {
    id: r.id,
    origin: r.origin,
    deadLetterTopic: r.dead_letter_topic,
    deadLetterPartition: r.dead_letter_partition,
    deadLetterOffset: r.dead_letter_offset,
    outboxId: r.outbox_id,
    targetTopic: r.target_topic,
    key: r.message_key,
    replayedByKeyId: r.replayed_by_key_id,
    replayedBy: r.replayed_by,
    replayedAt: r.replayed_at,
  };
}
