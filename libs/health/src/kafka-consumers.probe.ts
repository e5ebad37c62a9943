import { Injectable } from '@nestjs/common';
import { KafkaConsumerRunner, KafkaEventsTransport } from '@app/kafka';
import type { DependencyProbe } from './dependency-probe.js';

/**
 * Every consumer the app started is in its group (not connecting, not crashed) and no partition
 * is held by a dead-letter write that keeps failing, and the
 * `@KafkaEvent()` transport is connected (a host that forgot `connectMicroservice` consumes
 * nothing and must not look ready).
 */
@Injectable()
export class KafkaConsumersProbe implements DependencyProbe {
  readonly name = 'kafka';

  constructor(
    private readonly runner: KafkaConsumerRunner,
    private readonly transport: KafkaEventsTransport,
  ) {}

  async probe(): Promise<Record<string, unknown>> {
    const unserved = this.transport.unserved();
    if (unserved.length > 0) {
      throw new Error(`${KafkaEventsTransport.name} is not listening (connect it with app.connectMicroservice): ${unserved.join(', ')}`);
    }
    const states = this.runner.states();
    const notRunning = states.filter((s) => s.state !== 'running');
    if (notRunning.length > 0) {
      throw new Error(notRunning.map((s) => `${s.groupId} ${s.state}${s.error ? `: ${s.error}` : ''}`).join('; '));
    }
    // A partition held by a dead-letter write that keeps failing moves no message: not ready,
    // though every consumer is in its group (see docs/guarantees/deadletters.md).
    const blocked = this.runner.deadLetterCounts().filter((c) => c.blockedPartitions > 0);
    if (blocked.length > 0) {
      throw new Error(blocked.map((c) => `${c.groupId}: ${c.blockedPartitions} partition(s) held by a failing dead-letter write`).join('; '));
    }
    return { consumers: states.length };
  }

  /** Summed over the consumers: `deadLettered`, `parked`, `failedDeadLetterWrites`, `blockedPartitions`. */
  counts(): Record<string, number> {
    const sum = { deadLettered: 0, parked: 0, failedDeadLetterWrites: 0, blockedPartitions: 0 };
    for (const c of this.runner.deadLetterCounts()) {
      for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += c[key];
    }
    return sum;
  }
}
