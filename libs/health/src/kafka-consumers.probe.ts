import { Injectable } from '@nestjs/common';
import { KafkaConsumerRunner, KafkaEventsTransport } from '@app/kafka';
import type { DependencyProbe } from './dependency-probe.js';

/**
 * Every consumer the app started is in its group (not connecting, not crashed), and the
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
    return { consumers: states.length };
  }
}
