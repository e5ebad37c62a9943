import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type pg from 'pg';
import { sqlTable } from '@app/common';
import type { OutboxMessage } from './outbox-publisher.js';

/** Rows one relay holds under one lease; `token` fences every later write about them. */
export interface OutboxClaim {
  token: string;
  messages: OutboxMessage[];
}

interface ClaimedRow {
  id: string;
  topic: string;
  message_key: string;
  payload: unknown;
  headers: Record<string, string>;
}

/** A row is pending while it is neither published nor dead-lettered. */
const PENDING = `published_at IS NULL AND dead_lettered_at IS NULL`;

/**
 * Serialises claims (each a single short UPDATE): without it, two relays could
 * each claim a different row of the same key because neither sees the other's uncommitted lease.
 */
const CLAIM_LOCK_KEY = 7_263_541_001;

/**
 * The relay's SQL, one statement per state change of a claimed row:
 * claim → published | released (retry later) | dead-lettered.
 */
export class OutboxClaims {
  private readonly table: string;

  constructor(
    private readonly dataSource: DataSource,
    schema = 'public',
  ) {
    this.table = sqlTable(schema, 'outbox');
  }

  /**
   * Claims up to `limit` pending rows in id order, adding rows while those before them hold
   * fewer than `maxBytes` (so the first always, and the last may cross the cap),
   * skipping every key that still has a row leased by a relay or waiting for a retry: so a key's
   * rows go out one claim at a time, in order, whichever relay holds them.
   *
   * One round trip: the lock and the UPDATE go as one simple-protocol query, which PostgreSQL
   * runs as one implicit transaction (the lock is held until the UPDATE committed) and in which
   * the UPDATE, a statement of its own, takes its snapshot after the lock was granted, so it sees
   * the leases the previous holder committed. (Taking the lock inside the UPDATE would not: a
   * statement's snapshot predates the locks it waits for.) Simple protocol has no parameters: the
   * values are a UUID and numbers we generate, checked below.
   */
  async claim(limit: number, leaseMs: number, maxBytes = Number.MAX_SAFE_INTEGER): Promise<OutboxClaim | null> {
    const token = randomUUID();
    for (const [name, value] of Object.entries({ limit, leaseMs: Math.ceil(leaseMs), maxBytes })) {
      if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`OutboxClaims.claim: ${name} must be a positive integer, got ${value}`);
    }
    // `blocked` spells out the predicate of the partial index `outbox_pending_key_idx` (implied
    // by its time condition, but stated so the planner can match the index). `NOT IN` (keys are
    // never NULL) is a hashed subplan while the blocked keys fit in hash_mem (tens of thousands;
    // they are the leased rows plus those inside their back-off); `NOT EXISTS` planned a nested
    // loop comparing every candidate with every leased key (3 relays' leases: 14 ms, not 1). `bytes` is about
    // what the Kafka record carries (jsonb's text has a space more per member: an overestimate).
    const sql = `SELECT pg_advisory_xact_lock(${CLAIM_LOCK_KEY});
       WITH blocked AS (
         SELECT message_key FROM ${this.table}
         WHERE ${PENDING} AND (lease_until IS NOT NULL OR retry_at IS NOT NULL)
           AND (lease_until > now() OR retry_at > now())
       ), candidates AS (
         SELECT id, octet_length(message_key) + octet_length(payload::text) + octet_length(headers::text) AS bytes
         FROM ${this.table} o
         WHERE ${PENDING} AND o.message_key NOT IN (SELECT message_key FROM blocked)
         ORDER BY id
         LIMIT ${limit}
       ), sized AS (
         SELECT id, sum(bytes) OVER (ORDER BY id) - bytes AS before FROM candidates
       )
       UPDATE ${this.table} SET claim_token = '${token}', lease_until = now() + ${leaseMs} * interval '1 millisecond', retry_at = NULL
       WHERE id IN (SELECT id FROM sized WHERE before < ${maxBytes})
       RETURNING id::text AS id, topic, message_key, payload, headers`;
    const runner = this.dataSource.createQueryRunner();
    let rows: ClaimedRow[];
    try {
      const client = (await runner.connect()) as pg.PoolClient;
      const results = (await client.query(sql)) as unknown as pg.QueryResult<ClaimedRow>[];
      rows = results[1]?.rows ?? [];
    } finally {
      await runner.release();
    }
    if (rows.length === 0) return null;
    rows.sort((a, b) => compareIds(a.id, b.id));
    return {
      token,
      messages: rows.map((r) => ({ id: r.id, topic: r.topic, key: r.message_key, payload: r.payload, headers: r.headers })),
    };
  }

  /**
   * Whether any row is pending: what an idle poll asks before it claims (an index-only scan of
   * `outbox_pending_idx`, no lock, no write).
   */
  async hasPending(): Promise<boolean> {
    // Not `EXISTS`: with many rows pending the planner then prefers a seq scan, which reads
    // every published row kept for retention before the first pending one.
    const rows = (await this.dataSource.query(`SELECT id FROM ${this.table} WHERE ${PENDING} ORDER BY id LIMIT 1`)) as unknown[];
    return rows.length > 0;
  }

  /** Marks rows published; returns how many this claim still held (fewer = fenced off). */
  async markPublished(token: string, ids: readonly string[]): Promise<number> {
    return this.update(
      `UPDATE ${this.table} SET published_at = now(), claim_token = NULL, lease_until = NULL
       WHERE id = ANY($1::bigint[]) AND claim_token = $2 AND published_at IS NULL`,
      [ids, token],
    );
  }

  /** Keeps a claim while its publish is still running; returns how many rows it still held. */
  async extendLease(token: string, ids: readonly string[], leaseMs: number): Promise<number> {
    return this.update(
      `UPDATE ${this.table} SET lease_until = now() + $3 * interval '1 millisecond'
       WHERE id = ANY($1::bigint[]) AND claim_token = $2 AND published_at IS NULL`,
      [ids, token, leaseMs],
    );
  }

  /** Hands rows back after a failed publish; each waits `base·2^attempts` (capped) before the next try. */
  async release(token: string, ids: readonly string[], error: string, backoff: { baseMs: number; maxMs: number }): Promise<void> {
    await this.update(
      `UPDATE ${this.table} SET claim_token = NULL, lease_until = NULL, attempts = attempts + 1, last_error = $3,
              retry_at = now() + least($5::float8, $4::float8 * 2 ^ least(attempts, 20)) * interval '1 millisecond'
       WHERE id = ANY($1::bigint[]) AND claim_token = $2`,
      [ids, token, error.slice(0, 2_000), backoff.baseMs, backoff.maxMs],
    );
  }

  /** Gives rows back without counting an attempt (they were not tried, e.g. behind a failed row of their key). */
  async unclaim(token: string, ids: readonly string[]): Promise<void> {
    await this.update(`UPDATE ${this.table} SET claim_token = NULL, lease_until = NULL WHERE id = ANY($1::bigint[]) AND claim_token = $2`, [
      ids,
      token,
    ]);
  }

  /** Parks a row the transport rejected permanently; see `OutboxDeadLetters` to inspect and requeue. */
  async deadLetter(token: string, id: string, error: string): Promise<void> {
    await this.update(
      `UPDATE ${this.table} SET claim_token = NULL, lease_until = NULL, attempts = attempts + 1, last_error = $3, dead_lettered_at = now()
       WHERE id = $1::bigint AND claim_token = $2`,
      [id, token, error.slice(0, 2_000)],
    );
  }

  /** Deletes up to `limit` rows published before `retentionMs` ago; returns how many. */
  async deletePublished(retentionMs: number, limit: number): Promise<number> {
    return this.update(
      `DELETE FROM ${this.table} WHERE id IN (
         SELECT id FROM ${this.table}
         WHERE published_at IS NOT NULL AND published_at < now() - $1::float8 * interval '1 millisecond'
         LIMIT $2)`,
      [retentionMs, limit],
    );
  }

  private async update(sql: string, params: unknown[]): Promise<number> {
    const [, affected] = (await this.dataSource.query(sql, params)) as [unknown, number];
    return affected ?? 0;
  }
}

/** Orders bigint ids given as decimal strings. */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
