import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { microsOf, timestampOfMicros, type PageRequest } from '@app/common';
import type { EmailCancelRequestedMessage, EmailRequestedMessage, Lane } from '@app/contracts';
import type { OutboxInsert } from '@app/outbox';

/**
 * `pending` (or `scheduled`) → `sending` → `sent`, with `retrying`, `failed` and `expired` on the
 * side, `unknown` for an attempt held for reconciliation (see `UNCONFIRMED_SEND_*`), and the ends
 * without an SMTP attempt: `canceled`, `rejected`, `deduplicated`, `suppressed`.
 */
export type MailRequestStatus =
  | 'pending'
  | 'scheduled'
  | 'sending'
  | 'retrying'
  | 'sent'
  | 'failed'
  | 'expired'
  | 'unknown'
  | 'canceled'
  | 'rejected'
  | 'deduplicated'
  | 'suppressed';

/**
 * Requests the sweeper keeps a job for. The partial index `mail_requests_open_email_idx`
 * (database/mail-requests-sweep-index.migration.ts) repeats this list in its predicate: change both
 * together, with a new migration.
 */
export const OPEN_STATUSES: readonly MailRequestStatus[] = ['pending', 'scheduled', 'sending', 'retrying'];

/**
 * Requests a cancel still stops: none of them is in an SMTP hand-off (`sending`), so canceling
 * one under its row lock can never race with a message already on its way.
 */
export const CANCELABLE_STATUSES: readonly MailRequestStatus[] = ['pending', 'scheduled', 'retrying'];

/**
 * Requests nothing will change any more: the only ones retention deletes. `unknown` is not among
 * them (it waits for reconciliation). The partial index `mail_requests_final_updated_idx`
 * (database/mail-requests-retention-index.migration.ts) repeats this list: change both together.
 * So does the trigger that releases a dedup claim when an email ends in one of them other than
 * `sent` (database/dedup-claim-release.migration.ts): any statement that writes such a status
 * releases it in its own transaction, with nothing to call.
 */
export const FINAL_STATUSES: readonly MailRequestStatus[] = ['sent', 'failed', 'expired', 'canceled', 'rejected', 'deduplicated', 'suppressed'];

export interface MailRequestRow {
  emailId: string;
  lane: Lane;
  /** The request; for a tombstone (`canceled` before its request came, see `insertTombstones`) the cancel, but such a row is final and never read as a request. */
  payload: EmailRequestedMessage;
  status: MailRequestStatus;
  attempts: number;
  expiresAt: Date | null;
  /** When a `scheduled` request is due (null: at once). */
  sendAt: Date | null;
  /** When a `retrying` request's next attempt is due (its `email.retrying` event's `nextAttemptAt`); null when none was announced. */
  nextAttemptAt: Date | null;
  updatedAt: Date;
  /** True while the attempt in `sending` is within its lease (by the database's clock): it may still be talking SMTP. */
  leaseActive: boolean;
}

/** An open request as the sweeper sees it: enough to (re)make its send job. */
export interface OpenMailRequest {
  emailId: string;
  lane: Lane;
  /** A scheduled request's time (`send_at`); null otherwise. */
  sendAt: Date | null;
  /** When a `retrying` request's next attempt is due (its `email.retrying` event's `nextAttemptAt`); null otherwise. */
  nextAttemptAt: Date | null;
}

/** A request to record, with the status it starts in (`pending`, or `scheduled` when its `sendAt` is ahead); `MailRequestsService` then ends what its checks refuse. */
export interface NewMailRequest {
  request: EmailRequestedMessage;
  status: MailRequestStatus;
}

/**
 * The key that identifies an email id as PostgreSQL does: it returns a uuid in lower case, the
 * contract accepts either case. Ids are matched by this key, and handed back as the caller gave them.
 */
export function uuidKey(emailId: string): string {
  return emailId.toLowerCase();
}

/** The keyset of the unconfirmed list: `updated_at` in microseconds (as text) and the email id. */
export type UnknownListKey = [updatedAtMicros: string, emailId: string];

const COLUMNS = `email_id AS "emailId", lane, payload, status, attempts, expires_at AS "expiresAt", send_at AS "sendAt",
  next_attempt_at AS "nextAttemptAt", updated_at AS "updatedAt", COALESCE(lease_until > now(), false) AS "leaseActive"`;

/**
 * True when a recipient of the request in `mail_requests` (its payload's `to`, `cc`, `bcc`) is on
 * the suppression list for the request's category or for every category: the rule of the arrival
 * check (`SuppressionCheck`), with addresses matched lower-case and trimmed as `addressKey` does.
 * One index probe of `suppressions (address, category)` per recipient.
 */
const RECIPIENT_SUPPRESSED = `EXISTS (
  SELECT 1 FROM suppressions s
  WHERE s.address IN (
          SELECT lower(btrim(r)) FROM jsonb_array_elements_text(
            COALESCE(mail_requests.payload->'to', '[]') || COALESCE(mail_requests.payload->'cc', '[]') || COALESCE(mail_requests.payload->'bcc', '[]')) AS r)
    AND (s.category IS NULL OR s.category = mail_requests.payload->>'category'))`;

/**
 * For the attempt numbered `attempt` of the request in `mail_requests`: true when an earlier
 * attempt may have been delivered without its outcome being confirmed (held `unknown` after the
 * whole message went out with no reply, or never finished: its worker died in the hand-off).
 * This attempt then sends a possible duplicate (same `Message-ID`).
 */
const possibleDuplicate = (attempt: string) => `EXISTS (
  SELECT 1 FROM mail_attempts a
  WHERE a.email_id = mail_requests.email_id AND a.attempt < ${attempt} AND (a.outcome = 'unknown' OR a.finished_at IS NULL))`;
/**
 * The statements whose plans matter on a large table, built from their parameters, so that tests
 * EXPLAIN exactly what the repository runs.
 */
export const mailRequestQueries = {
  /** The sweeper's page: served by `mail_requests_open_email_idx`, in order, without a sort. */
  listOpen: (limit: number, afterEmailId: string | null) => ({
    sql: `SELECT email_id AS "emailId", lane, send_at AS "sendAt", next_attempt_at AS "nextAttemptAt" FROM mail_requests
          WHERE status = ANY($1) AND ($2::uuid IS NULL OR email_id > $2::uuid)
          ORDER BY email_id LIMIT $3`,
    params: [OPEN_STATUSES, afterEmailId, limit],
  }),
  /**
   * Up to `limit` final requests whose last change is older than `olderThanMs`, with their
   * attempts (`mail_attempts` references `mail_requests`, so both go in one statement). Found
   * through `mail_requests_final_updated_idx`; a request another transaction holds is skipped.
   */
  deleteFinal: (olderThanMs: number, limit: number) => ({
    sql: `WITH due AS (
            SELECT email_id FROM mail_requests
            WHERE status = ANY($1) AND updated_at < now() - $2::float8 * interval '1 millisecond'
            LIMIT $3
            FOR UPDATE SKIP LOCKED
          ), attempts AS (
            DELETE FROM mail_attempts WHERE email_id = ANY (ARRAY(SELECT email_id FROM due))
          )
          DELETE FROM mail_requests WHERE email_id = ANY (ARRAY(SELECT email_id FROM due))`,
    params: [FINAL_STATUSES, olderThanMs, limit],
  }),
};

/** SQL for `mail_requests` and `mail_attempts`. Every method runs on the manager it is given. */
@Injectable()
export class MailRequestsRepository {
  /** Inserts the request unless this email id is known; returns whether it was new. */
  async insert(manager: EntityManager, request: EmailRequestedMessage, status: MailRequestStatus): Promise<boolean> {
    return (await this.insertMany(manager, [{ request, status }])).has(request.emailId);
  }

  /**
   * Inserts, in one statement, each request whose email id is not known yet; returns the email
   * ids (as given) of those it inserted. When one email id comes twice, the first one wins.
   */
  async insertMany(manager: EntityManager, requests: readonly NewMailRequest[]): Promise<Set<string>> {
    const byId = new Map<string, NewMailRequest>();
    for (const r of requests) if (!byId.has(uuidKey(r.request.emailId))) byId.set(uuidKey(r.request.emailId), r);
    if (byId.size === 0) return new Set();
    const rows = [...byId.values()].map(({ request, status }) => ({
      email_id: request.emailId,
      lane: request.lane,
      payload: request,
      status,
      expires_at: request.expiresAt ?? null,
      send_at: request.sendAt ?? null,
    }));
    // Inserted in email id order: two transactions racing on the same ids (a redelivery during a
    // rebalance) then wait for each other in the same order instead of deadlocking.
    const inserted: { emailId: string }[] = await manager.query(
      `INSERT INTO mail_requests (email_id, lane, payload, status, expires_at, send_at)
       SELECT r.email_id, r.lane, r.payload, r.status, r.expires_at, r.send_at
       FROM jsonb_to_recordset($1::jsonb) AS r(email_id uuid, lane text, payload jsonb, status text, expires_at timestamptz, send_at timestamptz)
       ORDER BY r.email_id
       ON CONFLICT (email_id) DO NOTHING
       RETURNING email_id AS "emailId"`,
      [JSON.stringify(rows)],
    );
    return new Set(inserted.map((row) => byId.get(uuidKey(row.emailId))!.request.emailId));
  }

  /**
   * Ends the given requests, just recorded, in the final status a check decided, with its reason
   * as `last_error`; one statement, none when there are none.
   */
  async endMany(manager: EntityManager, ended: readonly { emailId: string; status: MailRequestStatus; reason: string }[]): Promise<void> {
    if (ended.length === 0) return;
    await manager.query(
      `UPDATE mail_requests m SET status = e.status, last_error = e.reason, updated_at = now()
       FROM jsonb_to_recordset($1::jsonb) AS e(email_id uuid, status text, reason text)
       WHERE m.email_id = e.email_id`,
      [JSON.stringify(ended.map((e) => ({ email_id: e.emailId, status: e.status, reason: e.reason })))],
    );
  }

  async find(manager: EntityManager, emailId: string, options: { lock?: boolean } = {}): Promise<MailRequestRow | null> {
    const rows: MailRequestRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM mail_requests WHERE email_id = $1${options.lock ? ' FOR UPDATE' : ''}`,
      [emailId],
    );
    return rows[0] ?? null;
  }

  /** The status of each of these requests that exists, in one query, keyed by email id as given. */
  async findMany(manager: EntityManager, emailIds: readonly string[]): Promise<Map<string, MailRequestStatus>> {
    if (emailIds.length === 0) return new Map();
    const rows: { emailId: string; status: MailRequestStatus }[] = await manager.query(
      `SELECT email_id AS "emailId", status FROM mail_requests WHERE email_id = ANY($1::uuid[])`,
      [emailIds],
    );
    const statusByKey = new Map(rows.map((row) => [uuidKey(row.emailId), row.status]));
    const statuses = new Map<string, MailRequestStatus>();
    for (const emailId of emailIds) {
      const status = statusByKey.get(uuidKey(emailId));
      if (status !== undefined) statuses.set(emailId, status);
    }
    return statuses;
  }

  /** Open requests in email id order, a page at a time, for rebuilding queue jobs from the source of truth. */
  async listOpen(manager: EntityManager, limit: number, afterEmailId: string | null): Promise<OpenMailRequest[]> {
    const { sql, params } = mailRequestQueries.listOpen(limit, afterEmailId);
    return manager.query(sql, params);
  }

  /**
   * Steps 1 and 2 of a send (`MailSender`) in the common case, as one statement (atomic, so no
   * transaction around it): if the request is open, due (its `send_at` and the `next_attempt_at` a
   * retry announced are not ahead of `now`) and not expired at `now`, no recipient is suppressed
   * for its category, and it is not `sending` an attempt that is still within its lease or whose
   * outcome a `hold` lane must not resend, it becomes `sending` with the next attempt number and a
   * lease of `leaseMs`, its `mail_attempts` row is written, and it is returned. The row lock is the
   * UPDATE's own: a concurrent start waits for it, then re-checks these conditions against the row
   * as committed. Every attempt, first or retry, scheduled or not, starts here or, under a lock,
   * through {@link startAttempt} after the same checks.
   *
   * Returns null when the request is missing, final, or in one of those uncommon cases: the caller
   * then looks at it under a lock ({@link find}) and decides.
   */
  async startNextAttempt(
    manager: EntityManager,
    emailId: string,
    options: { leaseMs: number; now: Date; holdLanes: readonly Lane[] },
  ): Promise<{ request: MailRequestRow; attempt: number; possibleDuplicate: boolean } | null> {
    const rows: (MailRequestRow & { possibleDuplicate: boolean })[] = await manager.query(
      `WITH started AS (
         UPDATE mail_requests
            SET status = 'sending', attempts = attempts + 1, lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
          WHERE email_id = $1 AND status = ANY($2)
            AND NOT (status = 'sending' AND (COALESCE(lease_until > now(), false) OR lane = ANY($5)))
            AND (expires_at IS NULL OR expires_at > $4)
            AND (send_at IS NULL OR send_at <= $4)
            AND (next_attempt_at IS NULL OR next_attempt_at <= $4)
            AND NOT ${RECIPIENT_SUPPRESSED}
         RETURNING ${COLUMNS}, ${possibleDuplicate('mail_requests.attempts')} AS "possibleDuplicate"
       ), attempt AS (
         INSERT INTO mail_attempts (email_id, attempt) SELECT "emailId", attempts FROM started
         ON CONFLICT (email_id, attempt) DO UPDATE SET started_at = now(), finished_at = NULL, outcome = NULL
       )
       SELECT * FROM started`,
      [emailId, OPEN_STATUSES, options.leaseMs, options.now, options.holdLanes],
    );
    const row = rows[0];
    if (!row) return null;
    const { possibleDuplicate: duplicate, ...request } = row;
    return { request, attempt: request.attempts, possibleDuplicate: duplicate };
  }

  /**
   * Records the attempt before any SMTP traffic (after a crash we know it may have gone out), with
   * a lease of `leaseMs` that its worker renews while it is alive ({@link renewLease}). One
   * statement: the request's update and the attempt's row are written together. The caller holds
   * the request's lock and has made {@link startNextAttempt}'s checks. Returns whether an earlier
   * attempt's outcome is unconfirmed (this one may send a duplicate).
   */
  async startAttempt(manager: EntityManager, emailId: string, attempt: number, leaseMs: number): Promise<{ possibleDuplicate: boolean }> {
    const rows: { possibleDuplicate: boolean }[] = await manager.query(
      `WITH started AS (
         UPDATE mail_requests SET status = 'sending', attempts = $2, lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
         WHERE email_id = $1
         RETURNING email_id, ${possibleDuplicate('$2')} AS "possibleDuplicate"
       ), attempt AS (
         INSERT INTO mail_attempts (email_id, attempt) SELECT email_id, $2 FROM started
         ON CONFLICT (email_id, attempt) DO UPDATE SET started_at = now(), finished_at = NULL, outcome = NULL
       )
       SELECT "possibleDuplicate" FROM started`,
      [emailId, attempt, leaseMs],
    );
    return { possibleDuplicate: rows[0]?.possibleDuplicate ?? false };
  }

  /** When the request's first recorded attempt began (the start of its retry window); null when it has none. */
  async firstAttemptStartedAt(manager: EntityManager, emailId: string): Promise<Date | null> {
    const rows: { startedAt: Date | null }[] = await manager.query(`SELECT min(started_at) AS "startedAt" FROM mail_attempts WHERE email_id = $1`, [emailId]);
    return rows[0]?.startedAt ?? null;
  }

  /** Extends the lease of a running attempt; false when the attempt is no longer the current one. */
  async renewLease(manager: EntityManager, emailId: string, attempt: number, leaseMs: number): Promise<boolean> {
    const [, affected] = (await manager.query(
      `UPDATE mail_requests SET lease_until = now() + $3 * interval '1 millisecond'
       WHERE email_id = $1 AND attempts = $2 AND status = 'sending'`,
      [emailId, attempt, leaseMs],
    )) as [unknown, number];
    return affected === 1;
  }

  /**
   * Records how an attempt ended, fenced: only if `attempt` is still the request's current attempt
   * and the request is still in `expectedStatus` (`sending` for a send, `unknown` for a
   * reconciliation). Returns false, writing nothing, when a later attempt or decision superseded
   * it: a late result never overwrites a newer one (`sent` never goes back to `retrying`).
   *
   * One statement (atomic without a transaction around it): the request, the attempt's outcome and,
   * when given, the status `event`'s outbox row, which is written exactly when the request is.
   */
  async finishAttempt(
    manager: EntityManager,
    emailId: string,
    attempt: number,
    result: {
      status: MailRequestStatus;
      outcome: 'sent' | 'rejected' | 'deferred' | 'unknown' | 'reconciled';
      messageId?: string;
      smtpCode?: number;
      smtpResponse?: string;
      error?: string;
      /** With `retrying`: when the next attempt is due (kept for the sweeper). */
      nextAttemptAt?: Date;
    },
    expectedStatus: MailRequestStatus = 'sending',
    event?: OutboxInsert,
  ): Promise<boolean> {
    const params: unknown[] = [
      emailId,
      result.status,
      result.messageId ?? null,
      result.smtpResponse ?? null,
      result.error ?? null,
      attempt,
      expectedStatus,
      result.outcome,
      result.smtpCode ?? null,
      result.nextAttemptAt ?? null,
    ];
    const outbox = event?.(params.length + 1, 'EXISTS (SELECT 1 FROM finished)');
    const rows: { recorded: number }[] = await manager.query(
      `WITH finished AS (
         UPDATE mail_requests SET status = $2, message_id = COALESCE($3, message_id), smtp_response = $4, last_error = $5,
           sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END, lease_until = NULL, next_attempt_at = $10, updated_at = now()
         WHERE email_id = $1 AND attempts = $6 AND status = $7
         RETURNING email_id
       ), attempt AS (
         UPDATE mail_attempts a SET finished_at = now(), outcome = $8, smtp_code = $9, smtp_response = $4
         FROM finished f WHERE a.email_id = f.email_id AND a.attempt = $6
       )${outbox ? `, event AS (${outbox.sql})` : ''}
       SELECT count(*)::int AS recorded FROM finished`,
      [...params, ...(outbox?.params ?? [])],
    );
    return rows[0]?.recorded === 1;
  }

  /**
   * Cancels those of these requests that are in a {@link CANCELABLE_STATUSES} status, in one
   * statement; returns those it canceled (email ids as PostgreSQL spells them), with their lanes. The UPDATE's row
   * lock is what makes a cancel and the start of an attempt (`startNextAttempt`, `startAttempt`
   * under `find(lock)`) exclusive: whichever comes second waits for the first and re-checks the
   * status, so an email is never both canceled and handed to SMTP.
   */
  async cancelMany(manager: EntityManager, emailIds: readonly string[]): Promise<{ emailId: string; lane: Lane }[]> {
    if (emailIds.length === 0) return [];
    // TypeORM answers an UPDATE with [rows, affected].
    const [rows] = (await manager.query(
      `UPDATE mail_requests SET status = 'canceled', lease_until = NULL, updated_at = now()
       WHERE email_id = ANY($1::uuid[]) AND status = ANY($2)
       RETURNING email_id AS "emailId", lane`,
      [emailIds, CANCELABLE_STATUSES],
    )) as [{ emailId: string; lane: Lane }[], number];
    return rows;
  }

  /**
   * Records a cancel for each of these emails the mailer does not know yet, as a `canceled`
   * request (its payload the cancel itself): when the request comes later (a dead letter
   * requeued), it finds its email id taken and is a duplicate, never sent. One statement; returns
   * those it recorded (an id known meanwhile is left as it is).
   */
  async insertTombstones(manager: EntityManager, cancels: readonly EmailCancelRequestedMessage[]): Promise<{ emailId: string; lane: Lane }[]> {
    if (cancels.length === 0) return [];
    const rows = cancels.map((c) => ({ email_id: c.emailId, lane: c.lane, payload: c }));
    return manager.query(
      `INSERT INTO mail_requests (email_id, lane, payload, status)
       SELECT r.email_id, r.lane, r.payload, 'canceled'
       FROM jsonb_to_recordset($1::jsonb) AS r(email_id uuid, lane text, payload jsonb)
       ORDER BY r.email_id
       ON CONFLICT (email_id) DO NOTHING
       RETURNING email_id AS "emailId", lane`,
      [JSON.stringify(rows)],
    );
  }

  /** Requests held as `unknown`, oldest first. */
  /**
   * Requests held `unknown`, longest held first, after the key `page.after` (`updated_at` in
   * microseconds, email id); one row more than the page, which tells there is a next one.
   */
  async listUnknown(manager: EntityManager, page: PageRequest<UnknownListKey>): Promise<(MailRequestRow & { updatedAtMicros: string })[]> {
    const params: unknown[] = [page.limit + 1];
    let where = `status = 'unknown'`;
    if (page.after) {
      params.push(page.after[0], page.after[1]);
      where += ` AND (updated_at, email_id) > (${timestampOfMicros('$2')}, $3::uuid)`;
    }
    return manager.query(
      `SELECT ${COLUMNS}, ${microsOf('updated_at')}::text AS "updatedAtMicros" FROM mail_requests WHERE ${where} ORDER BY updated_at, email_id LIMIT $1`,
      params,
    );
  }

  /**
   * Deletes up to `limit` final requests, with their attempts, last changed over `olderThanMs`
   * ago; returns how many. A deleted request no longer deduplicates its email id: see
   * `MailerRetentionService` for why the age must exceed the request topics' retention.
   */
  async deleteFinalBefore(manager: EntityManager, olderThanMs: number, limit: number): Promise<number> {
    const { sql, params } = mailRequestQueries.deleteFinal(olderThanMs, limit);
    const [, deleted] = (await manager.query(sql, params)) as [unknown, number];
    return deleted ?? 0;
  }

  async setStatus(manager: EntityManager, emailId: string, status: MailRequestStatus, error?: string): Promise<void> {
    await manager.query(`UPDATE mail_requests SET status = $2, last_error = COALESCE($3, last_error), updated_at = now() WHERE email_id = $1`, [
      emailId,
      status,
      error ?? null,
    ]);
  }
}
