import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { describeError } from '@app/common';
import { SweepLoop } from '@app/queue';
import { WebhookDeliveriesRepository, type DueDelivery } from './webhook-deliveries.repository.js';
import { WebhookQueue } from './webhook-queue.js';
import { WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

const PAGE_SIZE = 500;

/**
 * Redis is only the timer: at start-up and then periodically, every delivery PostgreSQL holds
 * pending and due (endpoint enabled) gets a runnable job (`WebhookQueue.ensure`). After a
 * `FLUSHALL`, a lost enqueue, a worker that died mid-attempt (its claim runs out) or a job BullMQ
 * gave up on, the delivery is attempted again; nothing stays stuck.
 *
 * `sweepSoon()` is the backstop of an enqueue that failed and the wake-up after a replay or a
 * re-enabled endpoint: it sweeps within a second and keeps trying, with back-off, until a sweep
 * gets through.
 */
@Injectable()
export class WebhookJobSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookJobSweeper.name);
  private readonly loop: SweepLoop;

  constructor(
    private readonly dataSource: DataSource,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly queue: WebhookQueue,
    @Inject(WEBHOOKS_OPTIONS) options: WebhooksOptions,
  ) {
    this.loop = new SweepLoop(() => this.sweep(), options.sweepIntervalMs);
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** Asks for a sweep within about a second, repeated with back-off until one succeeds. */
  sweepSoon(): void {
    this.loop.soon();
  }

  /** One pass over the due deliveries; returns whether it got through. */
  async sweep(): Promise<boolean> {
    try {
      let after: DueDelivery | null = null;
      const repaired = { added: 0, revived: 0 };
      for (;;) {
        const page = await this.deliveries.listDue(this.dataSource.manager, PAGE_SIZE, after);
        for (const { id } of page) {
          const outcome = await this.queue.ensure(id);
          if (outcome !== 'present') repaired[outcome]++;
        }
        if (page.length < PAGE_SIZE) break;
        after = page[page.length - 1] ?? null;
      }
      if (repaired.added + repaired.revived > 0) {
        this.logger.log(`webhook jobs from PostgreSQL: ${repaired.added} added, ${repaired.revived} revived`);
      }
      return true;
    } catch (error) {
      this.logger.warn(`webhook sweep failed, will try again: ${describeError(error)}`);
      return false;
    }
  }
}
