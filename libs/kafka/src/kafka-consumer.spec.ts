import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { sleep } from '@app/common';
import type { KafkaClient } from './kafka-client.js';
import { KafkaConsumerRunner } from './kafka-consumer.js';
import type { KafkaProducer } from './kafka-producer.js';

/**
 * Logic test of the consumer supervision with a stand-in for kafkajs' consumer object: the real
 * broker-restart behaviour is exercised by the fault suite's `kafka-broker-restart` scenario.
 */
class FakeConsumer extends EventEmitter {
  readonly events = { CRASH: 'consumer.crash' } as const;
  connected = false;
  connect = vi.fn(async () => void (this.connected = true));
  subscribe = vi.fn(async () => undefined);
  run = vi.fn(async () => undefined);
  disconnect = vi.fn(async () => void (this.connected = false));

  crash(restart: boolean): void {
    this.emit(this.events.CRASH, { payload: { error: new Error('Failed to find group coordinator'), restart } });
  }
}

function runnerWith(consumers: FakeConsumer[]): KafkaConsumerRunner {
  const created = [...consumers];
  const client = { kafka: { consumer: () => created.shift() } } as unknown as KafkaClient;
  return new KafkaConsumerRunner(client, {} as KafkaProducer);
}

const definition = {
  groupId: 'group',
  topics: ['topic'],
  schema: z.unknown(),
  description: 'test message',
  handle: async () => 'processed' as const,
};

describe('KafkaConsumerRunner supervision', () => {
  it('replaces a consumer that kafkajs stopped with a non-retriable error', async () => {
    const first = new FakeConsumer();
    const second = new FakeConsumer();
    const running = await runnerWith([first, second]).start(definition);

    first.crash(false);
    await vi.waitFor(() => expect(second.run).toHaveBeenCalledTimes(1), { timeout: 3_000 });
    expect(second.subscribe).toHaveBeenCalledWith({ topics: ['topic'], fromBeginning: true });

    await running.stop();
    expect(second.disconnect).toHaveBeenCalled();
    expect(second.connected).toBe(false);
  });

  it('leaves a crash that kafkajs restarts itself to kafkajs', async () => {
    const first = new FakeConsumer();
    const second = new FakeConsumer();
    const running = await runnerWith([first, second]).start(definition);

    first.crash(true);
    await sleep(600);
    expect(second.connect).not.toHaveBeenCalled();

    await running.stop();
    expect(first.disconnect).toHaveBeenCalled();
  });

  it('keeps retrying the replacement until it connects', async () => {
    const first = new FakeConsumer();
    const failing = new FakeConsumer();
    failing.connect.mockRejectedValue(new Error('connection refused'));
    const third = new FakeConsumer();
    const running = await runnerWith([first, failing, third]).start(definition);

    first.crash(false);
    await vi.waitFor(() => expect(third.run).toHaveBeenCalledTimes(1), { timeout: 5_000 });
    expect(failing.disconnect).toHaveBeenCalled();

    await running.stop();
    expect(third.connected).toBe(false);
  });
});
