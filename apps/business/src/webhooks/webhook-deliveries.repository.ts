import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { microsOf, timestampOfMicros, type PageRequest } from '@app/common';
import type { WebhookEventType } from '@app/webhooks';
import { updatedRows, type EndpointScope } from './webhook-endpoints.repository.js';

/** The keyset of delivery lists: creation time in microseconds (as text, from `int8`) and id. */
export type DeliveryListKey = [createdAtMicros: string, id: string];

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface WebhookDeliveryRow {
  id: string;
  endpointId: string;
  eventId: string;
  emailId: string;
  eventType: WebhookEventType;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** `created_at` in microseconds: the lists' cursor. */
  createdAtMicros: string;
}

export interface WebhookAttemptRow {
  number: number;
  startedAt: Date;
  statusCode: number | null;
  latencyMs: number;
  responseBody: string | null;
  error: string | null;
}

/** A delivery claimed for one attempt, with what is needed to sign and send it. */
export interface ClaimedDelivery {
  id: string;
  endpointId: string;
  /** The exact body, as stored at creation. */
  payload: string;
  /** This attempt's number (1-based, counting every attempt ever made). */
  attempt: number;
  /** Failed attempts since the delivery was created or last replayed: the position in the retry schedule. */
  failuresInRound: number;
  url: string;
  /** The current secret first, then the previous one while its grace period runs. */
  secrets: string[];
}

export interface DueDelivery {
  id: string;
  nextAttemptAt: Date;
}

/** An applied status event, with the webhook body its deliveries carry. */
export interface NewEventDeliveries {
  eventId: string;
  emailId: string;
  type: WebhookEventType;
  payload: string;
}

const COLUMNS = `d.id, d.endpoint_id AS "endpointId", d.event_id AS "eventId", d.email_id AS "emailId", d.event_type AS "eventType",
  d.status, d.attempts, d.next_attempt_at AS "nextAttemptAt", d.last_error AS "lastError",
  d.created_at AS "createdAt", d.updated_at AS "updatedAt", ${microsOf('d.created_at')}::text AS "createdAtMicros"`;

const ms = (param: string): string => `${param}::float8 * interval '1 millisecond'`;

/** The statements whose plans the integration test checks (each must be served by an index). */
export const webhookDeliveryQueries = {
  /**
   * One delivery per event and enabled endpoint subscribed to its type (and not owned by a revoked
   * API key), for a batch of events in one statement, in event order; a repeated event inserts nothing.
   */
  createForEvents: (events: readonly NewEventDeliveries[]) => ({
    sql: `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, email_id, event_type, payload, next_attempt_at)
          SELECT gen_random_uuid(), e.id, v.event_id, v.email_id, v.event_type, v.payload, now()
          FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) WITH ORDINALITY AS v(event_id, email_id, event_type, payload, n)
          JOIN webhook_endpoints e ON e.enabled AND e.events @> ARRAY[v.event_type]
          -- An endpoint of a revoked key receives nothing more: revoking a leaked key must also
          -- cut what its endpoints would go on receiving. Bootstrap keys ('bootstrap:<n>') have no row.
          WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id::text = e.owner_key_id AND k.revoked_at IS NOT NULL)
          ORDER BY v.n, e.id
          ON CONFLICT (endpoint_id, event_id) DO NOTHING
          RETURNING id`,
    params: [events.map((e) => e.eventId), events.map((e) => e.emailId), events.map((e) => e.type), events.map((e) => e.payload)],
  }),
  /**
   * Newest first, keyset-paginated by `(created_at, id)` below the key `after`, one row more than
   * the page (it tells there is a next one). Newer deliveries arriving meanwhile land before the
   * first page, never between pages.
   */
  listByEndpoint: (endpointId: string, options: { status?: DeliveryStatus } & PageRequest<DeliveryListKey>) => {
    const params: unknown[] = [endpointId, options.limit + 1];
    let where = 'd.endpoint_id = $1';
    if (options.status) {
      params.push(options.status);
      where += ` AND d.status = $${params.length}`;
    }
    if (options.after) {
      params.push(options.after[0], options.after[1]);
      where += ` AND (d.created_at, d.id) < (${timestampOfMicros(`$${params.length - 1}`)}, $${params.length}::uuid)`;
    }
    return { sql: `SELECT ${COLUMNS} FROM webhook_deliveries d WHERE ${where} ORDER BY d.created_at DESC, d.id DESC LIMIT $2`, params };
  },
  /** An email's deliveries to the endpoints in scope, oldest first, after the key `after` (one row more than the page). */
  listByEmail: (emailId: string, scope: EndpointScope, page: PageRequest<DeliveryListKey>) => {
    const params: unknown[] = [emailId, page.limit + 1];
    let where = 'd.email_id = $1';
    if (scope.ownerKeyId !== undefined) {
      params.push(scope.ownerKeyId);
      where += ` AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND e.owner_key_id = $${params.length})`;
    }
    if (page.after) {
      params.push(page.after[0], page.after[1]);
      where += ` AND (d.created_at, d.id) > (${timestampOfMicros(`$${params.length - 1}`)}, $${params.length}::uuid)`;
    }
    return { sql: `SELECT ${COLUMNS} FROM webhook_deliveries d WHERE ${where} ORDER BY d.created_at, d.id LIMIT $2`, params };
  },
  /** Pending deliveries of enabled endpoints that are due, in due order after `(at, id)`. */
  listDue: (limit: number, after: DueDelivery | null) => ({
    sql: `SELECT d.id, d.next_attempt_at AS "nextAttemptAt"
          FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
          WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.enabled
            AND (d.next_attempt_at, d.id) > ($2::timestamptz, $3::uuid)
          ORDER BY d.next_attempt_at, d.id LIMIT $1`,
    params: [limit, after?.nextAttemptAt ?? new Date(0), after?.id ?? '00000000-0000-0000-0000-000000000000'],
  }),
  replaySince: (endpointId: string, since: Date) => ({
    sql: `UPDATE webhook_deliveries SET status = 'pending', retry_offset = attempts, next_attempt_at = now(), updated_at = now()
          WHERE endpoint_id = $1 AND status = 'failed' AND created_at >= $2
          RETURNING id`,
    params: [endpointId, since],
  }),
  /** Up to `limit` finished deliveries (their attempts go with them) older than `olderThanMs`. */
  deleteFinished: (olderThanMs: number, limit: number) => ({
    sql: `DELETE FROM webhook_deliveries WHERE id = ANY (ARRAY(
            SELECT id FROM webhook_deliveries
            WHERE status <> 'pending' AND updated_at < now() - ${ms('$1')}
            LIMIT $2 FOR UPDATE SKIP LOCKED))`,
    params: [olderThanMs, limit],
  }),
};

/** SQL for `webhook_deliveries` and `webhook_attempts`. Every method runs on the manager it is given. */
@Injectable()
export class WebhookDeliveriesRepository {
  /** Creates the deliveries of these events; returns the ids of those it created, in event order. */
  async createForEvents(manager: EntityManager, events: readonly NewEventDeliveries[]): Promise<string[]> {
    if (events.length === 0) return [];
    const { sql, params } = webhookDeliveryQueries.createForEvents(events);
    const rows = (await manager.query(sql, params)) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /**
   * Claims a due delivery of an enabled endpoint for one attempt: counts the attempt and moves
   * `next_attempt_at` past `leaseMs`, so no other worker starts the same delivery meanwhile and a
   * worker that dies mid-attempt is covered by the sweeper once the lease ran out.
   */
  async claim(manager: EntityManager, id: string, leaseMs: number): Promise<ClaimedDelivery | undefined> {
    const [row] = updatedRows<ClaimedDelivery>(
      await manager.query(
        `UPDATE webhook_deliveries d
           SET attempts = d.attempts + 1, next_attempt_at = now() + ${ms('$2')}, updated_at = now()
         FROM webhook_endpoints e
         WHERE d.id = $1 AND e.id = d.endpoint_id AND d.status = 'pending' AND e.enabled AND d.next_attempt_at <= now()
         RETURNING d.id, d.endpoint_id AS "endpointId", d.payload, d.attempts AS attempt, d.attempts - d.retry_offset AS "failuresInRound",
           e.url, array_remove(ARRAY[e.secret, CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END], NULL) AS secrets`,
        [id, leaseMs],
      ),
    );
    return row;
  }

  /** Where an unclaimable delivery stands: gone, finished, paused (endpoint disabled), or due later. */
  async peek(manager: EntityManager, id: string): Promise<{ status: DeliveryStatus; enabled: boolean; dueInMs: number } | undefined> {
    // Measured on the database's clock, the one `claim()` compares with: an app clock ahead of it
    // would find the delivery due while the claim still refuses it.
    const [row] = (await manager.query(
      `SELECT d.status, e.enabled,
              GREATEST(0, COALESCE(extract(epoch FROM d.next_attempt_at - now()) * 1000, 0))::float8 AS "dueInMs"
       FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1`,
      [id],
    )) as { status: DeliveryStatus; enabled: boolean; dueInMs: number }[];
    return row;
  }

  /** Locks the delivery for recording an outcome; false when it was deleted meanwhile (endpoint deleted). */
  async lock(manager: EntityManager, id: string): Promise<boolean> {
    const rows = (await manager.query(`SELECT 1 FROM webhook_deliveries WHERE id = $1 FOR UPDATE`, [id])) as unknown[];
    return rows.length > 0;
  }

  async insertAttempt(manager: EntityManager, deliveryId: string, attempt: WebhookAttemptRow): Promise<void> {
    await manager.query(
      `INSERT INTO webhook_attempts (delivery_id, number, started_at, status_code, latency_ms, response_body, error)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [deliveryId, attempt.number, attempt.startedAt, attempt.statusCode, attempt.latencyMs, attempt.responseBody, attempt.error],
    );
  }

  /** Records the outcome of an attempt: finished (`delivered`/`failed`), or still pending, due again after `retryInMs`. */
  async settle(
    manager: EntityManager,
    id: string,
    outcome: { status: 'delivered' | 'failed'; lastError: string | null } | { status: 'pending'; retryInMs: number; lastError: string },
  ): Promise<void> {
    await manager.query(
      `UPDATE webhook_deliveries SET status = $2, last_error = $3,
         next_attempt_at = CASE WHEN $2 = 'pending' THEN now() + ${ms('$4')} END, updated_at = now()
       WHERE id = $1`,
      [id, outcome.status, outcome.lastError, outcome.status === 'pending' ? outcome.retryInMs : null],
    );
  }

  async findById(manager: EntityManager, endpointId: string, id: string): Promise<(WebhookDeliveryRow & { payload: string }) | undefined> {
    const [row] = (await manager.query(`SELECT ${COLUMNS}, d.payload FROM webhook_deliveries d WHERE d.id = $1 AND d.endpoint_id = $2`, [
      id,
      endpointId,
    ])) as (WebhookDeliveryRow & { payload: string })[];
    return row;
  }

  async listAttempts(manager: EntityManager, deliveryId: string): Promise<WebhookAttemptRow[]> {
    return (await manager.query(
      `SELECT number, started_at AS "startedAt", status_code AS "statusCode", latency_ms AS "latencyMs",
         response_body AS "responseBody", error
       FROM webhook_attempts WHERE delivery_id = $1 ORDER BY number`,
      [deliveryId],
    )) as WebhookAttemptRow[];
  }

  async listByEndpoint(
    manager: EntityManager,
    endpointId: string,
    options: { status?: DeliveryStatus } & PageRequest<DeliveryListKey>,
  ): Promise<WebhookDeliveryRow[]> {
    const { sql, params } = webhookDeliveryQueries.listByEndpoint(endpointId, options);
    return (await manager.query(sql, params)) as WebhookDeliveryRow[];
  }

  async listByEmail(manager: EntityManager, emailId: string, scope: EndpointScope, page: PageRequest<DeliveryListKey>): Promise<WebhookDeliveryRow[]> {
    const { sql, params } = webhookDeliveryQueries.listByEmail(emailId, scope, page);
    return (await manager.query(sql, params)) as WebhookDeliveryRow[];
  }

  async listDue(manager: EntityManager, limit: number, after: DueDelivery | null): Promise<DueDelivery[]> {
    const { sql, params } = webhookDeliveryQueries.listDue(limit, after);
    return (await manager.query(sql, params)) as DueDelivery[];
  }

  /**
   * Puts a finished delivery back to pending, due now, with a fresh retry schedule; the attempts
   * counter goes on. Returns whether it changed anything (a pending delivery is left as it is).
   */
  async replay(manager: EntityManager, endpointId: string, id: string): Promise<boolean> {
    const [, changed] = (await manager.query(
      `UPDATE webhook_deliveries SET status = 'pending', retry_offset = attempts, next_attempt_at = now(), updated_at = now()
       WHERE id = $1 AND endpoint_id = $2 AND status <> 'pending'`,
      [id, endpointId],
    )) as [unknown, number];
    return changed > 0;
  }

  async replaySince(manager: EntityManager, endpointId: string, since: Date): Promise<string[]> {
    const { sql, params } = webhookDeliveryQueries.replaySince(endpointId, since);
    return updatedRows<{ id: string }>(await manager.query(sql, params)).map((r) => r.id);
  }

  /** Makes the pending deliveries of a re-enabled endpoint due now (they were paused while it was disabled). */
  async resumePaused(manager: EntityManager, endpointId: string): Promise<number> {
    const [, changed] = (await manager.query(
      `UPDATE webhook_deliveries SET next_attempt_at = now(), updated_at = now() WHERE endpoint_id = $1 AND status = 'pending'`,
      [endpointId],
    )) as [unknown, number];
    return changed;
  }

  async deleteFinishedBefore(manager: EntityManager, olderThanMs: number, limit: number): Promise<number> {
    const { sql, params } = webhookDeliveryQueries.deleteFinished(olderThanMs, limit);
    const [, deleted] = (await manager.query(sql, params)) as [unknown, number];
    return deleted ?? 0;
  }
}
