import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Scope } from './scopes.js';

/** One row of `api_keys`, without its hash: what lists and the CLI show. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  senderDomains: string[] | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface NewApiKeyRow {
  name: string;
  prefix: string;
  hash: string;
  scopes: readonly Scope[];
  senderDomains: readonly string[] | null;
}

/** A page of keys, newest first, and where the next one starts (`null`: this was the last). */
export interface ApiKeyPage {
  items: ApiKeyRecord[];
  next: { createdAt: Date; id: string } | null;
}

const COLUMNS = `id, name, prefix, scopes, sender_domains AS "senderDomains", created_at AS "createdAt",
  last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"`;

/**
 * `api_keys` in the host app's database (see `CreateApiKeys…` migration). Plain SQL on the app's
 * `DataSource`, so the CLI uses the same class without Nest.
 */
@Injectable()
export class ApiKeysRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(row: NewApiKeyRow): Promise<ApiKeyRecord> {
    const [created] = (await this.dataSource.query(
      `INSERT INTO api_keys (id, name, prefix, hash, scopes, sender_domains) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [randomUUID(), row.name, row.prefix, row.hash, row.scopes, row.senderDomains],
    )) as ApiKeyRecord[];
    return created!;
  }

  /** The key with this hash, revoked or not, with its stored hash for the constant-time comparison. */
  async findByHash(hash: string): Promise<(ApiKeyRecord & { hash: string }) | undefined> {
    const [row] = (await this.dataSource.query(`SELECT ${COLUMNS}, hash FROM api_keys WHERE hash = $1`, [hash])) as (ApiKeyRecord & { hash: string })[];
    return row;
  }

  /** Newest first; `after` is the previous page's `next`. */
  async list(limit: number, after?: { createdAt: Date; id: string }): Promise<ApiKeyPage> {
    const rows = (await this.dataSource.query(
      after === undefined
        ? `SELECT ${COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC LIMIT $1`
        : `SELECT ${COLUMNS} FROM api_keys WHERE (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $1`,
      after === undefined ? [limit + 1] : [limit + 1, after.createdAt, after.id],
    )) as ApiKeyRecord[];
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, next: rows.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null };
  }

  /** Marks the key revoked; `undefined` when there is no such key. Revoking twice keeps the first time. */
  async revoke(id: string): Promise<ApiKeyRecord | undefined> {
    const [rows] = (await this.dataSource.query(
      `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
      [id],
    )) as [ApiKeyRecord[], number];
    return rows[0];
  }

  /** Records a use, at most once a minute per key whatever the number of instances. */
  async touch(id: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [id],
    );
  }

  /** Keys that still work: whether the app has any way in besides configuration. */
  async countActive(): Promise<number> {
    const [row] = (await this.dataSource.query(`SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL`)) as { n: number }[];
    return row?.n ?? 0;
  }
}
