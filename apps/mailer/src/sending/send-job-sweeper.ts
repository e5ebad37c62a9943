import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { describeError } from '@app/common';
import { SweepLoop } from '@app/queue';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import { MailRequestsRepository } from '../requests/mail-requests.repository.js';
import { SendQueue } from './send-queue.js';

const PAGE_SIZE = 500;

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
  private readonly loop: SweepLoop;

  constructor(
    private readonly dataSource: DataSource,
    private readonly requests: MailRequestsRepository,
    private readonly queue: SendQueue,
    @Inject(MAILER_CONFIG) config: MailerConfig,
  ) {
    this.loop = new SweepLoop(() => this.sweep(), config.SWEEP_INTERVAL_MS);
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** Asks for a sweep within about a second, repeated with back-off until one succeeds (Redis may still be away). */
  sweepSoon(): void {
    this.loop.soon();
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
