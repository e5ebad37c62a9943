import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { describeError } from '@app/common';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import { MailRequestsRepository } from '../requests/mail-requests.repository.js';
import { SendQueue } from './send-queue.js';

const PAGE_SIZE = 500;
/** First wait of a requested sweep, doubled after each failed sweep (Redis still away), capped. */
const SOON_MS = 1_000;
const SOON_MAX_MS = 10_000;

/**
 * Redis is not the source of truth: at start-up and then periodically, every request that
 * PostgreSQL still holds open gets a runnable BullMQ job (see `SendQueue.ensure`). After a
 * `FLUSHALL`, a lost job, or a job BullMQ gave up on, nothing stays stuck.
 *
 * `sweepSoon()` is the backstop of an enqueue that failed (Redis unreachable): it sweeps within
 * a second and keeps trying, with back-off, until a sweep gets through.
 */
@Injectable()
export class SendJobSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SendJobSweeper.name);
  private timer?: NodeJS.Timeout;
  private soonTimer?: NodeJS.Timeout;
  private soonDelayMs = SOON_MS;
  private stopped = false;
  private running?: Promise<boolean>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly requests: MailRequestsRepository,
    private readonly queue: SendQueue,
    @Inject(MAILER_CONFIG) private readonly config: MailerConfig,
  ) {}

  onApplicationBootstrap(): void {
    void this.sweepNow().then((swept) => swept || this.sweepSoon()); // Redis may not be there yet
    this.timer = setInterval(() => void this.sweepNow(), this.config.SWEEP_INTERVAL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.soonTimer);
    await this.running;
  }

  /** Asks for a sweep within about a second, repeated with back-off until one succeeds. */
  sweepSoon(): void {
    if (this.soonTimer || this.stopped) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      void this.sweepNow().then((swept) => {
        this.soonDelayMs = swept ? SOON_MS : Math.min(SOON_MAX_MS, this.soonDelayMs * 2);
        if (!swept) this.sweepSoon();
      });
    }, this.soonDelayMs);
  }

  /** Starts a sweep unless one is running; resolves with whether it got through. */
  private sweepNow(): Promise<boolean> {
    this.running ??= this.sweep().finally(() => (this.running = undefined));
    return this.running;
  }

  /** One pass over all open requests; returns whether it got through. */
  async sweep(): Promise<boolean> {
    try {
      let after: string | null = null;
      const repaired = { added: 0, revived: 0 };
      for (;;) {
        const page = await this.requests.listOpen(this.dataSource.manager, PAGE_SIZE, after);
        for (const { emailId, lane } of page) {
          const outcome = await this.queue.ensure(emailId, lane);
          if (outcome !== 'present') repaired[outcome]++;
        }
        if (page.length < PAGE_SIZE) break;
        after = page[page.length - 1]?.emailId ?? null;
      }
      if (repaired.added + repaired.revived > 0) {
        this.logger.warn(`rebuilt send jobs from PostgreSQL: ${repaired.added} added, ${repaired.revived} revived`);
      }
      return true;
    } catch (error) {
      this.logger.warn(`sweep failed, will try again: ${describeError(error)}`);
      return false;
    }
  }
}
