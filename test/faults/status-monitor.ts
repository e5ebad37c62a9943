import pg from 'pg';

/** Progress order as the product promises it, written out independently of the product's code. */
const RANK: Record<string, number> = {
  queued: 0,
  accepted: 1,
  scheduled: 2,
  sending: 3,
  retrying: 3,
  unknown: 4,
  sent: 5,
  failed: 5,
  expired: 5,
  canceled: 5,
  rejected: 5,
  deduplicated: 5,
  suppressed: 5,
};
const FINAL_RANK = 5;

/** The mailer's final request statuses: once there, a request never changes status again. */
const MAILER_FINAL = new Set(['sent', 'failed', 'expired', 'canceled', 'rejected', 'deduplicated', 'suppressed']);

interface Seen {
  status: string;
  attempt: number;
}

/**
 * Watches every email's status while a scenario runs and records each move backwards:
 *
 * - in the business database (`emails`): a lower rank, a lower attempt within sending/retrying,
 *   or any change after a final status;
 * - in the mailer database (`mail_requests`): any change of a request that was `sent`, `failed`
 *   or `expired` (e.g. a second worker resending an email already sent).
 *
 * Reads straight from PostgreSQL (one query per database per tick) so it sees every state the
 * API could have shown; read errors (e.g. while PostgreSQL restarts, or before the tables exist)
 * are skipped.
 */
export class StatusMonitor {
  readonly violations: string[] = [];
  private readonly last = new Map<string, Seen>();
  private readonly lastMailer = new Map<string, string>();
  private readonly pool: pg.Pool;
  private readonly mailerPool: pg.Pool;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;
  /** Ticks that read the business database. */
  ticks = 0;
  /** Ticks that read the mailer database. */
  mailerTicks = 0;

  constructor(businessDatabaseUrl: string, mailerDatabaseUrl: string) {
    this.pool = new pg.Pool({ connectionString: businessDatabaseUrl, max: 1 });
    this.mailerPool = new pg.Pool({ connectionString: mailerDatabaseUrl, max: 1 });
    for (const pool of [this.pool, this.mailerPool]) pool.on('error', () => undefined);
  }

  start(intervalMs = 400): void {
    this.timer = setInterval(() => {
      this.ticking ??= this.tick().finally(() => (this.ticking = undefined));
    }, intervalMs);
  }

  /** Stops watching after one last look at the final states. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.ticking;
    await this.tick();
    await Promise.all([this.pool.end(), this.mailerPool.end()]);
  }

  private async tick(): Promise<void> {
    await Promise.all([this.tickBusiness(), this.tickMailer()]);
  }

  private async tickBusiness(): Promise<void> {
    let rows: { id: string; status: string; attempt: number }[];
    try {
      rows = (await this.pool.query('SELECT id::text, status, attempt FROM email_loop.emails')).rows;
    } catch {
      return;
    }
    this.ticks++;
    for (const row of rows) {
      const before = this.last.get(row.id);
      if (before && movedBackwards(before, row)) {
        this.violations.push(`${row.id}: ${before.status}(${before.attempt}) → ${row.status}(${row.attempt})`);
      }
      this.last.set(row.id, { status: row.status, attempt: row.attempt });
    }
  }

  private async tickMailer(): Promise<void> {
    let rows: { id: string; status: string }[];
    try {
      rows = (await this.mailerPool.query('SELECT email_id::text AS id, status FROM mail_requests')).rows;
    } catch {
      return;
    }
    this.mailerTicks++;
    for (const row of rows) {
      const before = this.lastMailer.get(row.id);
      if (before !== undefined && before !== row.status && MAILER_FINAL.has(before)) {
        this.violations.push(`mailer ${row.id}: ${before} → ${row.status}`);
      }
      this.lastMailer.set(row.id, row.status);
    }
  }
}

function movedBackwards(before: Seen, after: Seen): boolean {
  if (before.status === after.status && before.attempt === after.attempt) return false;
  const [from, to] = [RANK[before.status] ?? -1, RANK[after.status] ?? -1];
  if (from === FINAL_RANK) return true; // final statuses never change
  if (to !== from) return to < from;
  return after.attempt < before.attempt;
}
