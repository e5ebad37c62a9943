import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { WebhookEventType } from '@app/webhooks';

/** One row of `webhook_endpoints`, secrets included: never hand it to a client as it is. */
export interface WebhookEndpointRow {
  id: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: Date | null;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  failingSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookEndpointChange {
  url?: string;
  events?: WebhookEventType[];
  /** `null` clears it. */
  description?: string | null;
  enabled?: boolean;
}

const COLUMNS = `id, url, events, description, enabled, disabled_reason AS "disabledReason", disabled_at AS "disabledAt",
  secret, previous_secret AS "previousSecret", previous_secret_expires_at AS "previousSecretExpiresAt",
  failing_since AS "failingSince", created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Why an endpoint was switched off through `PATCH { enabled: false }`. */
export const DISABLED_THROUGH_API = 'disabled through the API';

/** TypeORM hands the result of an UPDATE or DELETE to `query()` callers as `[rows, rowCount]`. */
export function updatedRows<T>(result: unknown): T[] {
  return (result as [T[], number])[0];
}

/** SQL for `webhook_endpoints`. Every method runs on the manager it is given. */
@Injectable()
export class WebhookEndpointsRepository {
  async insert(
    manager: EntityManager,
    endpoint: { id: string; url: string; events: WebhookEventType[]; description: string | null; secret: string },
  ): Promise<WebhookEndpointRow> {
    const [row] = (await manager.query(
      `INSERT INTO webhook_endpoints (id, url, events, description, secret) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [endpoint.id, endpoint.url, endpoint.events, endpoint.description, endpoint.secret],
    )) as WebhookEndpointRow[];
    return row!;
  }

  async findById(manager: EntityManager, id: string): Promise<WebhookEndpointRow | undefined> {
    const [row] = (await manager.query(`SELECT ${COLUMNS} FROM webhook_endpoints WHERE id = $1`, [id])) as WebhookEndpointRow[];
    return row;
  }

  async list(manager: EntityManager): Promise<WebhookEndpointRow[]> {
    return (await manager.query(`SELECT ${COLUMNS} FROM webhook_endpoints ORDER BY created_at, id`)) as WebhookEndpointRow[];
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
  ): Promise<{ endpoint: WebhookEndpointRow; wasEnabled: boolean } | undefined> {
    // In SET and WHERE, column names are the values before the update.
    const rows = updatedRows<WebhookEndpointRow & { wasEnabled: boolean }>(
      await manager.query(
      `WITH before AS (SELECT id AS before_id, enabled AS was_enabled FROM webhook_endpoints WHERE id = $1 FOR UPDATE)
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
      [
        id,
        change.url ?? null,
        change.events ?? null,
        change.description !== undefined,
        change.description ?? null,
        change.enabled ?? null,
        DISABLED_THROUGH_API,
      ],
      ),
    );
    const [row] = rows;
    if (!row) return undefined;
    const { wasEnabled, ...endpoint } = row;
    return { endpoint, wasEnabled };
  }

  /** Deletes the endpoint with its deliveries and their attempts; returns whether it existed. */
  async delete(manager: EntityManager, id: string): Promise<boolean> {
    const [, deleted] = (await manager.query(`DELETE FROM webhook_endpoints WHERE id = $1`, [id])) as [unknown, number];
    return deleted > 0;
  }

  /** Makes `secret` the signing secret; the current one keeps signing alongside for `graceMs` (0: not at all). */
  async rotateSecret(manager: EntityManager, id: string, secret: string, graceMs: number): Promise<WebhookEndpointRow | undefined> {
    const [row] = updatedRows<WebhookEndpointRow>(
      await manager.query(
      `UPDATE webhook_endpoints SET
         previous_secret = CASE WHEN $3::float8 > 0 THEN secret END,
         previous_secret_expires_at = CASE WHEN $3::float8 > 0 THEN now() + $3::float8 * interval '1 millisecond' END,
         secret = $2, updated_at = now()
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, secret, graceMs],
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
