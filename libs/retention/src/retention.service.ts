import type { OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { RetentionJob } from './retention-job.js';

/**
 * Base of an app's retention provider: runs its {@link RetentionJob} from bootstrap to shutdown.
 * A subclass only says what to prune (`super(new RetentionJob(name, policies, schedule))`).
 */
export abstract class RetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  protected constructor(private readonly job: RetentionJob) {}

  onApplicationBootstrap(): void {
    this.job.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.job.stop();
  }

  /** One pruning pass; returns how many rows it deleted per table. For tests and tooling. */
  prune(): Promise<Record<string, number>> {
    return this.job.runOnce();
  }
}
