import pg from 'pg';

/** Progress order as the product promises it, written out independently of the product's code. */
const RANK: Record<string, number> = { queued: 0, accepted: 1, sending: 2, retrying: 2, unknown: 3, sent: 4, failed: 4, expired: 4 };

interface Seen {
  status: string;
  attempt: number;
}

/**
 * Watches every email's status in the business database while a scenario runs and records each
 * move backwards: a lower rank, a lower attempt within sending/retrying, or any change after a
 * final status. Reads straight from PostgreSQL (one query per tick) so it sees every state the
 * API could have shown; read errors (e.g. while PostgreSQL restarts) are skipped.
 */
export class StatusMonitor {
  readonly violations: string[] = [];
  private readonly last = new Map<string, Seen>();
  private readonly pool: pg.Pool;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  ticks = 0;

  constructor(databaseUrl: string) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    this.pool.on('error', () => undefined);
  }

  start(intervalMs = 400): void {
    this.timer = setInterval(() => {
      this.ticking ??= this.tick().finally(() => (this.ticking = undefined));
    }, intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    await this.tick(); // one last look at the final states
    await this.pool.end();
  }

  private async tick(): Promise<void> {
    let rows: { id: string; status: string; attempt: number }[];
    try {
      rows = (await this.pool.query('SELECT id::text, status, attempt FROM emails')).rows;
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
}

function movedBackwards(before: Seen, after: Seen): boolean {
  if (before.status === after.status && before.attempt === after.attempt) return false;
  const [from, to] = [RANK[before.status] ?? -1, RANK[after.status] ?? -1];
  if (from === 4) return true; // final statuses never change
  if (to !== from) return to < from;
  return after.attempt < before.attempt;
}
