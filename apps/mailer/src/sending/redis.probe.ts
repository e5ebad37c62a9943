import { Injectable } from '@nestjs/common';
import type { DependencyProbe } from '@app/health';
import { SendQueue } from './send-queue.js';

/** Redis, which holds the send queues, answers. */
@Injectable()
export class RedisProbe implements DependencyProbe {
  readonly name = 'redis';

  constructor(private readonly queue: SendQueue) {}

  async probe(): Promise<void> {
    await this.queue.ping();
  }
}
