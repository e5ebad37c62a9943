import { Injectable } from '@nestjs/common';
import { KafkaConsumerRunner } from '@app/kafka';
import type { DependencyProbe } from './dependency-probe.js';

/** Every consumer the app started is in its group (not connecting, not crashed). */
@Injectable()
export class KafkaConsumersProbe implements DependencyProbe {
  readonly name = 'kafka';

  constructor(private readonly runner: KafkaConsumerRunner) {}

  async probe(): Promise<Record<string, unknown>> {
    const states = this.runner.states();
    const notRunning = states.filter((s) => s.state !== 'running');
    if (notRunning.length > 0) {
      throw new Error(notRunning.map((s) => `${s.groupId} ${s.state}${s.error ? `: ${s.error}` : ''}`).join('; '));
    }
    return { consumers: states.length };
  }
}
