import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { microsOf, timestampOfMicros, type PageRequest } from '@app/common';
import type { WebhookEventType } from '@app/webhooks';

/**
 * Which endpoints a caller may see and manage: those its API key created (`ownerKeyId`), or all
 * of them (`ownerKeyId` undefined: a `keys:admin` key). Every read and change of one endpoint
 * takes a scope, so an endpoint outside it is "not found", exactly like one that does not exist.
 */
export interface EndpointScope {
  ownerKeyId?: string;
}

/** Everything in scope: for the delivery path and maintenance, which act for no API key. */
export const ALL_ENDPOINTS: EndpointScope = Object.freeze({});

/** The keyset of the endpoint list: creation time in microseconds (as text, from `int8`) and id. */
export type EndpointListKey = [createdAtMicros: string, id: string];

/** One row of `webhook_endpoints`, secrets included: never hand it to a client as it is. */
export interface WebhookEndpointRow {
  id: string;
  /** The API key that created it; null for endpoints from before owners (admin-only). */
  ownerKeyId: string | null;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: Date | null;
  /** Encrypted (`WebhookSecretCipher`); in clear only on a row from before encryption, until start-up re-encrypts it. */
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  failingSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** `created_at` in microseconds: the list's cursor (a Date would lose PostgreSQL's microseconds). */
  createdAtMicros: string;
}

export interface WebhookEndpointChange {
  url?: string;
  events?: WebhookEventType[];
  /** `null` clears it. */
  description?: string | null;
  enabled?: boolean;
}

const COLUMNS = `id, owner_key_id AS "ownerKeyId", url, events, description, enabled, disabled_reason AS "disabledReason", disabled_at AS "disabledAt",
  secret, previous_secret AS "previousSecret", previous_secret_expires_at AS "previousSecretExpiresAt",
  failing_since AS "failingSince", created_at AS "createdAt", updated_at AS "updatedAt", ${microsOf('created_at')}::text AS "createdAtMicros"`;

/** Serialises endpoint creation so that counting against the caps and inserting are one step. */
const CREATE_LOCK = `pg_advisory_xact_lock(hashtext('webhook_endpoints.create'))`;

/** ` AND owner_key_id = $n` for a key's scope (its parameter pushed onto `params`), nothing for all. */
function ownerCondition(scope: EndpointScope, params: unknown[], column = 'owner_key_id'): string {
  if (scope.ownerKeyId === undefined) return '';
  params.push(scope.ownerKeyId);
  return ` AND ${column} = $${params.length}`;
}

/** The statements whose plans the integration test checks. */
export const webhookEndpointQueries = {
  /** A page of the endpoints in scope, oldest first, after the key `after`; one row more than asked tells there is a next page. */
  list: (scope: EndpointScope, page: PageRequest<EndpointListKey>) => {
    const params: unknown[] = [page.limit + 1];
    let where = 'true' + ownerCondition(scope, params);
    if (page.after) {
      params.push(page.after[0], page.after[1]);
      where += ` AND (created_at, id) > (${timestampOfMicros(`$${params.length - 1}`)}, $${params.length}::uuid)`;
    }
    return { sql: `SELECT ${COLUMNS} FROM webhook_endpoints WHERE ${where} ORDER BY created_at, id LIMIT $1`, params };
  },
};

/** Why an endpoint was switched off through `PATCH { enabled: false }`. */
export const DISABLED_THROUGH_API = 'disabled through the API';

/** TypeORM hands the result of an UPDATE or DELETE to `query()` callers as `[rows, rowCount]`. */
export function updatedRows<T>(result: unknown): T[] {
  return (result as [T[], number])[0];
}

/** SQL for `webhook_endpoints`. Every method runs on the manager it is given. */
@Injectable()
export class WebhookEndpointsRepository {
  /**
   * Inserts the endpoint unless its owner already has `maxPerOwner` endpoints or the deployment
   * `maxTotal`; returns which limit stopped it instead. Must run in a transaction: the advisory
   * lock held until its end makes count-then-insert atomic, so concurrent creations never pass a
   * cap together (creation is rare; one lock for all owners keeps the global cap exact too).
   */
  async insertWithinLimits(
    manager: EntityManager,
    endpoint: { id: string; ownerKeyId: string; url: string; events: WebhookEventType[]; description: string | null; secret: string },
    limits: { maxPerOwner: number; maxTotal: number },
  ): Promise<{ row: WebhookEndpointRow } | { limit: 'key' | 'deployment'; max: number }> {
    await manager.query(`SELECT ${CREATE_LOCK}`);
    const [counts] = (await manager.query(
      `SELECT count(*)::int AS total, (SELECT count(*)::int FROM webhook_endpoints WHERE owner_key_id = $1) AS owned FROM webhook_endpoints`,
      [endpoint.ownerKeyId],
    )) as { total: number; owned: number }[];
    if (counts!.owned >= limits.maxPerOwner) return { limit: 'key', max: limits.maxPerOwner };
    if (counts!.total >= limits.maxTotal) return { limit: 'deployment', max: limits.maxTotal };
    const [row] = (await manager.query(
      `INSERT INTO webhook_endpoints (id, owner_key_id, url, events, description, secret) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [endpoint.id, endpoint.ownerKeyId, endpoint.url, endpoint.events, endpoint.description, endpoint.secret],
    )) as WebhookEndpointRow[];
    return { row: row! };
  }

  async findById(manager: EntityManager, id: string, scope: EndpointScope): Promise<WebhookEndpointRow | undefined> {
    const params: unknown[] = [id];
    const [row] = (await manager.query(`SELECT ${COLUMNS} FROM webhook_endpoints WHERE id = $1${ownerCondition(scope, params)}`, params)) as WebhookEndpointRow[];
    return row;
  }

  /** One page of the endpoints in scope, with one row more than `limit` when there is a next page. */
  async list(manager: EntityManager, scope: EndpointScope, page: PageRequest<EndpointListKey>): Promise<WebhookEndpointRow[]> {
    const { sql, params } = webhookEndpointQueries.list(scope, page);
    return (await manager.query(sql, params)) as WebhookEndpointRow[];
  }

  /** Up to `limit` endpoints after `afterId`, in id order, with their stored secrets: for re-encryption. */
  async listSecrets(
    manager: EntityManager,
    afterId: string | null,
    limit: number,
  ): Promise<{ id: string; secret: string; previousSecret: string | null }[]> {
    return (await manager.query(
      `SELECT id, secret, previous_secret AS "previousSecret" FROM webhook_endpoints WHERE id > $1 ORDER BY id LIMIT $2`,
      [afterId ?? '00000000-0000-0000-0000-000000000000', limit],
    )) as { id: string; secret: string; previousSecret: string | null }[];
  }

  /**
   * Replaces the stored secrets of an endpoint if they are still `from` (compare-and-set): a
   * rotation or another instance re-encrypting at the same time wins, and nothing is lost.
   */
  async replaceSecrets(
    manager: EntityManager,
    id: string,
    from: { secret: string; previousSecret: string | null },
    to: { secret: string; previousSecret: string | null },
  ): Promise<boolean> {
    const [, changed] = (await manager.query(
      `UPDATE webhook_endpoints SET secret = $4, previous_secret = $5
       WHERE id = $1 AND secret = $2 AND previous_secret IS NOT DISTINCT FROM $3`,
      [id, from.secret, from.previousSecret, to.secret, to.previousSecret],
    )) as [unknown, number];
    return changed > 0;
  }

  /**
   * Applies a change; returns the endpoint after it and whether it was disabled before (so the
   * caller knows it was re-enabled). Re-enabling clears the failure state (`disabled_*`,
   * `failing_since`); disabling through the API records {@link DISABLED_THROUGH_API}.
   */
  async update(
    manager: EntityManager,
    id: string,
    change: WebhookEndpointChange,
    scope: EndpointScope,
  ): Promise<{ endpoint: WebhookEndpointRow; wasEnabled: boolean } | undefined> {
    const params: unknown[] = [
      id,
      change.url ?? null,
      change.events ?? null,
      change.description !== undefined,
      change.description ?? null,
      change.enabled ?? null,
      DISABLED_THROUGH_API,
    ];
    const owned = ownerCondition(scope, params);
    // In SET and WHERE, column names are the values before the update.
    const rows = updatedRows<WebhookEndpointRow & { wasEnabled: boolean }>(
      await manager.query(
      `WITH before AS (SELECT id AS before_id, enabled AS was_enabled FROM webhook_endpoints WHERE id = $1${owned} FOR UPDATE)
       UPDATE webhook_endpoints e SET
         url = COALESCE($2, url),
         events = COALESCE($3, events),
         description = CASE WHEN $4::boolean THEN $5 ELSE description END,
         enabled = COALESCE($6, e.enabled),
         disabled_reason = CASE WHEN $6 AND NOT e.enabled THEN NULL
                                WHEN NOT $6 AND e.enabled THEN $7 ELSE disabled_reason END,
         disabled_at = CASE WHEN $6 AND NOT e.enabled THEN NULL
                            WHEN NOT $6 AND e.enabled THEN now() ELSE disabled_at END,
         failing_since = CASE WHEN $6 AND NOT e.enabled THEN NULL ELSE failing_since END,
         updated_at = now()
       FROM before WHERE e.id = before_id
       RETURNING ${COLUMNS}, was_enabled AS "wasEnabled"`,
      params,
      ),
    );
    const [row] = rows;
    if (!row) return undefined;
    const { wasEnabled, ...endpoint } = row;
    return { endpoint, wasEnabled };
  }

  /** Deletes the endpoint with its deliveries and their attempts; returns whether it existed. */
  async delete(manager: EntityManager, id: string, scope: EndpointScope): Promise<boolean> {
    const params: unknown[] = [id];
    const [, deleted] = (await manager.query(`DELETE FROM webhook_endpoints WHERE id = $1${ownerCondition(scope, params)}`, params)) as [unknown, number];
    return deleted > 0;
  }

  /** Makes `secret` the signing secret; the current one keeps signing alongside for `graceMs` (0: not at all). */
  async rotateSecret(
    manager: EntityManager,
    id: string,
    secret: string,
    graceMs: number,
    scope: EndpointScope,
  ): Promise<WebhookEndpointRow | undefined> {
    const params: unknown[] = [id, secret, graceMs];
    const owned = ownerCondition(scope, params);
    const [row] = updatedRows<WebhookEndpointRow>(
      await manager.query(
      `UPDATE webhook_endpoints SET
         previous_secret = CASE WHEN $3::float8 > 0 THEN secret END,
         previous_secret_expires_at = CASE WHEN $3::float8 > 0 THEN now() + $3::float8 * interval '1 millisecond' END,
         secret = $2, updated_at = now()
       WHERE id = $1${owned} RETURNING ${COLUMNS}`,
      params,
      ),
    );
    return row;
  }

  /** A successful delivery ends the endpoint's failing streak. */
  async markHealthy(manager: EntityManager, id: string): Promise<void> {
    await manager.query(`UPDATE webhook_endpoints SET failing_since = NULL, updated_at = now() WHERE id = $1 AND failing_since IS NOT NULL`, [id]);
  }

  /**
   * Records a failed attempt: starts the failing streak if none is running, and disables the
   * endpoint once the streak has lasted `disableAfterMs`. Returns the reason when it disabled it.
   */
  async markFailing(manager: EntityManager, id: string, disableAfterMs: number): Promise<string | undefined> {
    await manager.query(
      `UPDATE webhook_endpoints SET failing_since = now(), updated_at = now() WHERE id = $1 AND failing_since IS NULL`,
      [id],
    );
    const [row] = updatedRows<{ reason: string }>(
      await manager.query(
      `UPDATE webhook_endpoints
         SET enabled = false, disabled_at = now(), updated_at = now(),
             disabled_reason = 'failing without a successful delivery since ' || to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
       WHERE id = $1 AND enabled AND failing_since <= now() - $2::float8 * interval '1 millisecond'
       RETURNING disabled_reason AS reason`,
      [id, disableAfterMs],
      ),
    );
    return row?.reason;
  }

  async disable(manager: EntityManager, id: string, reason: string): Promise<void> {
    await manager.query(
      `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now() WHERE id = $1 AND enabled`,
      [id, reason],
    );
  }
}
