import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';
import { BENCH_MAIL, recipientOf } from '../lib/mail.js';

/** One request's outcome: whether it was accepted, and the email id when known. */
export interface Outcome {
  ok: boolean;
  id?: string;
  error?: string;
}

/** Something the load generator sends requests to: the HTTP API or raw PostgreSQL. */
export interface Target {
  send(seq: number): Promise<Outcome>;
  close(): Promise<void>;
}

export type TargetSpec =
  | { kind: 'api'; urls: string[]; tag: string; /** Sent as `Authorization: Bearer`. */ apiKey: string }
  | { kind: 'pg'; databaseUrl: string; poolSize: number; topic: string; tag: string };

export function createTarget(spec: TargetSpec): Target {
  return spec.kind === 'api' ? new ApiTarget(spec.urls, spec.tag, spec.apiKey) : new PgTarget(spec.databaseUrl, spec.poolSize, spec.topic, spec.tag);
}

/** `POST /v1/emails` over kept-alive connections; several URLs are used round-robin. */
class ApiTarget implements Target {
  // No socket limit: an open-loop generator must never queue requests on the client side.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  private next = 0;

  constructor(private readonly urls: string[], private readonly tag: string, private readonly apiKey: string) {}

  send(seq: number): Promise<Outcome> {
    const body = JSON.stringify({ to: recipientOf(this.tag, seq), subject: BENCH_MAIL.subject, text: BENCH_MAIL.text });
    const url = new URL('/v1/emails', this.urls[this.next++ % this.urls.length]);
    return new Promise((resolve) => {
      const req = http.request(
        url,
        { method: 'POST', agent: this.agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${this.apiKey}` } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 202) return resolve({ ok: false, error: `HTTP ${res.statusCode}: ${text.slice(0, 200)}` });
            resolve({ ok: true, id: (JSON.parse(text) as { id: string }).id });
          });
          res.on('error', (e) => resolve({ ok: false, error: e.message }));
        },
      );
      req.on('error', (e) => resolve({ ok: false, error: e.message }));
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

/**
 * What `EmailClient.send()` writes, without the app: the `emails` row and its `outbox` row in the
 * one statement `EmailRepository.insert` runs (same columns), on a pool of the app's size.
 */
class PgTarget implements Target {
  private readonly pool: pg.Pool;

  constructor(databaseUrl: string, poolSize: number, private readonly topic: string, private readonly tag: string) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize });
  }

  async send(seq: number): Promise<Outcome> {
    const id = randomUUID();
    const request = { to: [recipientOf(this.tag, seq)], subject: BENCH_MAIL.subject, text: BENCH_MAIL.text, lane: 'transactional' as const };
    const message = { version: 1, type: 'email.requested', emailId: id, requestedAt: new Date().toISOString(), ...request };
    const hash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    try {
      await this.pool.query(
        `WITH inserted AS (
           INSERT INTO "email_loop"."emails" (id, idempotency_key, request_hash, lane, recipients, subject, metadata, expires_at, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued')
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING 1
         ), outbox AS (
           INSERT INTO "email_loop"."outbox" (topic, message_key, payload, headers)
           SELECT r.topic, r.message_key, r.payload, r.headers
           FROM jsonb_to_recordset($9::jsonb) AS r(topic text, message_key text, payload jsonb, headers jsonb)
           WHERE EXISTS (SELECT 1 FROM inserted)
         )
         SELECT 1 FROM inserted`,
        [
          id, null, hash, request.lane, JSON.stringify({ to: request.to }), request.subject, null, null,
          JSON.stringify([{ topic: this.topic, message_key: id, payload: message, headers: {} }]),
        ],
      );
      return { ok: true, id };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
