import { Inject, Injectable } from '@nestjs/common';
import { sqlTable } from '@app/common';
import type { EntityManager } from 'typeorm';
import type { OutboxInsert } from '@app/outbox';
import { DEFAULT_EMAIL_SCHEMA, EMAIL_OPTIONS } from './email.options.js';
import { TERMINAL_STATUSES, type EmailEventDetail, type EmailEventType, type EmailStatus, type Lane } from '@app/contracts';

export interface NewEmailRow {
  id: string;
  idempotencyKey: string | null;
  requestHash: string;
  lane: Lane;
  recipients: { to: string[]; cc?: string[]; bcc?: string[] };
  subject: string;
  metadata: Record<string, string> | null;
  expiresAt: string | null;
  /** The template the content was rendered from, if any. */
  template?: { name: string; version: number } | null;
}

export interface EmailRow {
  id: string;
  requestHash: string;
  lane: Lane;
  recipients: { to: string[]; cc?: string[]; bcc?: string[] };
  subject: string;
  template: { name: string; version: number } | null;
  metadata: Record<string, string> | null;
  status: EmailStatus;
  attempt: number;
  messageId: string | null;
  smtpResponse: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface EmailEventRow {
  type: EmailEventType;
  occurredAt: Date;
  detail: EmailEventDetail;
}

const EMAIL_COLUMNS = `id, request_hash AS "requestHash", lane, recipients, subject, template, metadata, status, attempt,
  message_id AS "messageId", smtp_response AS "smtpResponse", created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Statements built from their parameters, so that tests EXPLAIN exactly what the repository runs. */
export const emailQueries = {
  /**
   * Up to `limit` emails in a final status whose last change is older than `olderThanMs`, with
   * their events (`email_events` references `emails`, so both go in one statement). Found through
   * `emails_final_updated_idx`; an email locked by the status consumer is skipped, not waited for.
   */
  deleteFinal: (olderThanMs: number, limit: number, schema = DEFAULT_EMAIL_SCHEMA) => ({
    sql: `WITH due AS (
            SELECT id FROM ${sqlTable(schema, 'emails')}
            WHERE status = ANY($1) AND updated_at < now() - $2::float8 * interval '1 millisecond'
            LIMIT $3
            FOR UPDATE SKIP LOCKED
          ), events AS (
            DELETE FROM ${sqlTable(schema, 'email_events')} WHERE email_id = ANY (ARRAY(SELECT id FROM due))
          )
          DELETE FROM ${sqlTable(schema, 'emails')} WHERE id = ANY (ARRAY(SELECT id FROM due))`,
    params: [[...TERMINAL_STATUSES], olderThanMs, limit],
  }),
};

/** SQL for `emails` and `email_events`. Every method runs on the manager it is given. */
@Injectable()
export class EmailRepository {
  private readonly schema: string;
  private readonly emails: string;
  private readonly events: string;

  constructor(@Inject(EMAIL_OPTIONS) options: { schema?: string } = {}) {
    this.schema = options.schema ?? DEFAULT_EMAIL_SCHEMA;
    this.emails = sqlTable(this.schema, 'emails');
    this.events = sqlTable(this.schema, 'email_events');
  }

  /**
   * Inserts the email unless its idempotency key exists, and with it, in the same statement, the
   * outbox rows `outbox` stands for, if given (only if the email was inserted): one round trip, atomic even
   * outside a transaction. Returns whether a row was inserted.
   */
  async insert(manager: EntityManager, email: NewEmailRow, outbox?: OutboxInsert): Promise<boolean> {
    const values = [
      email.id,
      email.idempotencyKey,
      email.requestHash,
      email.lane,
      JSON.stringify(email.recipients),
      email.subject,
      email.metadata === null ? null : JSON.stringify(email.metadata),
      email.expiresAt,
      email.template ? JSON.stringify(email.template) : null,
    ];
    const then = outbox?.(values.length + 1, 'EXISTS (SELECT 1 FROM inserted)');
    const rows: unknown[] = await manager.query(
      `WITH inserted AS (
         INSERT INTO ${this.emails} (id, idempotency_key, request_hash, lane, recipients, subject, metadata, expires_at, template, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued')
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING 1
       )${then ? `, outbox AS (${then.sql})` : ''}
       SELECT 1 FROM inserted`,
      [...values, ...(then?.params ?? [])],
    );
    return rows.length === 1;
  }

  async findByIdempotencyKey(manager: EntityManager, key: string): Promise<EmailRow | null> {
    const rows: EmailRow[] = await manager.query(`SELECT ${EMAIL_COLUMNS} FROM ${this.emails} WHERE idempotency_key = $1`, [key]);
    return rows[0] ?? null;
  }

  async findById(manager: EntityManager, id: string): Promise<EmailRow | null> {
    const rows: EmailRow[] = await manager.query(`SELECT ${EMAIL_COLUMNS} FROM ${this.emails} WHERE id = $1`, [id]);
    return rows[0] ?? null;
  }

  /**
   * The emails with these ids, locked `FOR UPDATE` in id order: two transactions locking
   * overlapping sets take the locks in the same order, so they wait for each other instead of
   * deadlocking. Ids not found are missing from the result.
   */
  async lockMany(manager: EntityManager, ids: readonly string[]): Promise<EmailRow[]> {
    if (ids.length === 0) return [];
    return manager.query(`SELECT ${EMAIL_COLUMNS} FROM ${this.emails} WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [
      [...new Set(ids)],
    ]);
  }

  async listEvents(manager: EntityManager, emailId: string): Promise<EmailEventRow[]> {
    return manager.query(
      `SELECT type, occurred_at AS "occurredAt", detail FROM ${this.events}
       WHERE email_id = $1 ORDER BY occurred_at, received_at`,
      [emailId],
    );
  }

  /** Records the events in their emails' history, in one statement; an event already recorded is left as it is. */
  async insertEvents(
    manager: EntityManager,
    events: readonly { eventId: string; emailId: string; type: EmailEventType; occurredAt: string; detail: EmailEventDetail }[],
  ): Promise<void> {
    if (events.length === 0) return;
    await manager.query(
      `INSERT INTO ${this.events} (event_id, email_id, type, occurred_at, detail)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::jsonb[])
       ON CONFLICT DO NOTHING`,
      [
        events.map((e) => e.eventId),
        events.map((e) => e.emailId),
        events.map((e) => e.type),
        events.map((e) => e.occurredAt),
        events.map((e) => JSON.stringify(e.detail)),
      ],
    );
  }

  /**
   * Sets each email's status, attempt, message id and SMTP reply to the values given (its whole
   * new state, not a change: `null` clears), in one statement. One entry per email.
   */
  async updateStatuses(
    manager: EntityManager,
    states: readonly { id: string; status: EmailStatus; attempt: number; messageId: string | null; smtpResponse: string | null }[],
  ): Promise<void> {
    if (states.length === 0) return;
    await manager.query(
      `UPDATE ${this.emails} e
       SET status = s.status, attempt = s.attempt, message_id = s.message_id, smtp_response = s.smtp_response, updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[]) AS s(id, status, attempt, message_id, smtp_response)
       WHERE e.id = s.id`,
      [
        states.map((s) => s.id),
        states.map((s) => s.status),
        states.map((s) => s.attempt),
        states.map((s) => s.messageId),
        states.map((s) => s.smtpResponse),
      ],
    );
  }

  /** Deletes up to `limit` final emails, with their events, last changed over `olderThanMs` ago; returns how many. */
  async deleteFinalBefore(manager: EntityManager, olderThanMs: number, limit: number): Promise<number> {
    const { sql, params } = emailQueries.deleteFinal(olderThanMs, limit, this.schema);
    const [, deleted] = (await manager.query(sql, params)) as [unknown, number];
    return deleted ?? 0;
  }
}
