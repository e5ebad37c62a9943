import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { describeError } from '@app/common';
import { WebhookDeliveriesRepository, type DueDelivery } from './webhook-deliveries.repository.js';
import { WebhookQueue } from './webhook-queue.js';
import { WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

const PAGE_SIZE = 500;
/** First wait of a requested sweep, doubled after each failed sweep (Redis still away), capped. */
const SOON_MS = 1_000;
const SOON_MAX_MS = 10_000;

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
  private timer?: NodeJS.Timeout;
  private soonTimer?: NodeJS.Timeout;
  private soonDelayMs = SOON_MS;
  private stopped = false;
  private running?: Promise<boolean>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly queue: WebhookQueue,
    @Inject(WEBHOOKS_OPTIONS) private readonly options: WebhooksOptions,
  ) {}

  onApplicationBootstrap(): void {
    void this.sweepNow().then((swept) => swept || this.sweepSoon()); // Redis may not be there yet
    this.timer = setInterval(() => void this.sweepNow(), this.options.sweepIntervalMs);
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
