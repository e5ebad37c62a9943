import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { OUTBOX_MIGRATIONS, OutboxDeadLetters } from '@app/outbox';
import { KafkaTopics, type KafkaDeadLetters } from '@app/kafka';
import { createMigratedDatabase, dropTestDatabase } from '@app/testing';
import { DEAD_LETTER_MIGRATIONS } from './dead-letter-replays.migration.js';
import { DeadLetterReplaysRepository } from './dead-letter-replays.repository.js';
import { DeadLetterNotFoundError, DeadLettersService } from './dead-letters.service.js';

/**
 * The outbox side of the dead-letter service on PostgreSQL: paged by cursor, one row with its
 * payload, a replay that requeues the row and is recorded with who did it. (The Kafka side is in
 * libs/kafka/src/dead-letters.int.spec.ts and test/dead-letters.e2e.spec.ts.)
 */
describe('DeadLettersService: outbox dead letters (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;
  let service: DeadLettersService;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('dead_letters_int', [...OUTBOX_MIGRATIONS, ...DEAD_LETTER_MIGRATIONS]));
    const names = new KafkaTopics({ brokers: ['unused:9092'], clientId: 'x', topicPrefix: 'p.' });
    // The Kafka reader is not reached by the outbox methods.
    service = new DeadLettersService({} as KafkaDeadLetters, names, new OutboxDeadLetters(dataSource), new DeadLetterReplaysRepository(dataSource));
    for (const n of [1, 2, 3]) {
      await dataSource.query(
        `INSERT INTO outbox (topic, message_key, payload, headers, attempts, last_error, dead_lettered_at) VALUES ($1, $2, $3, $4, 1, 'too large', now())`,
        ['p.mail.events', `k${n}`, JSON.stringify({ n }), JSON.stringify({ h: String(n) })],
      );
    }
    await dataSource.query(`INSERT INTO outbox (topic, message_key, payload) VALUES ('p.mail.events', 'pending', '{}')`);
  });
  afterAll(async () => {
    await dataSource.destroy();
    await dropTestDatabase(url);
  });

  it('lists by cursor, shows one with its payload, replays (requeues) it and records who did', async () => {
    const first = await service.outboxList({ limit: 2 });
    expect(first.items.map((d) => d.key)).toEqual(['k1', 'k2']);
    const second = await service.outboxList({ limit: 2, after: first.items[1]!.id });
    expect(second).toMatchObject({ items: [{ key: 'k3' }], nextCursor: null });
    expect(first.nextCursor).not.toBeNull();

    const shown = await service.outboxGet(first.items[0]!.id);
    expect(shown).toMatchObject({ key: 'k1', payload: { n: 1 }, headers: { h: '1' }, lastError: 'too large' });

    const replay = await service.outboxReplay(shown.id, { keyId: 'key-1', name: 'api key ops' });
    expect(replay).toMatchObject({ origin: 'outbox', outboxId: shown.id, targetTopic: 'mail.events', key: 'k1', replayedByKeyId: 'key-1' });
    const [row] = await dataSource.query(`SELECT dead_lettered_at, attempts FROM outbox WHERE id = $1`, [shown.id]);
    expect(row).toEqual({ dead_lettered_at: null, attempts: 0 });
    // Requeued: no longer a dead letter, and a second replay finds nothing (and leaves no record).
    await expect(service.outboxReplay(shown.id, { keyId: null, name: 'cli:ops' })).rejects.toThrow(DeadLetterNotFoundError);
    const replays = await service.listReplays({ limit: 10 });
    expect(replays.items.map((r) => r.id)).toEqual([replay.id]);
  });
});
