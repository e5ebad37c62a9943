import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { sleep } from '@app/common';
import type { KafkaClient } from './kafka-client.js';
import { KafkaConsumerRunner } from './kafka-consumer.js';
import type { KafkaProducer } from './kafka-producer.js';
import type { KafkaTopicAdmin } from './kafka-admin.js';

/**
 * Logic test of the consumer supervision with a stand-in for kafkajs' consumer object: the real
 * broker-restart behaviour is exercised by the fault suite's `kafka-broker-restart` scenario.
 */
class FakeConsumer extends EventEmitter {
  readonly events = { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join' } as const;
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
  const admin = { ensureTopics: async () => undefined } as unknown as KafkaTopicAdmin;
  return new KafkaConsumerRunner(client, {} as KafkaProducer, admin);
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
    const running = runnerWith([first, second]).start(definition);

    await vi.waitFor(() => expect(first.run).toHaveBeenCalledTimes(1));
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
    const running = runnerWith([first, second]).start(definition);

    await vi.waitFor(() => expect(first.run).toHaveBeenCalledTimes(1));
    first.crash(true);
    await sleep(600);
    expect(second.connect).not.toHaveBeenCalled();

    await running.stop();
    expect(first.disconnect).toHaveBeenCalled();
  });

  it('keeps trying to start while the broker is unreachable, and reports itself down meanwhile', async () => {
    const failing = new FakeConsumer();
    failing.connect.mockRejectedValue(new Error('connection refused'));
    const second = new FakeConsumer();
    const running = runnerWith([failing, second]).start(definition);
    await vi.waitFor(() => expect(running.state()).toMatchObject({ state: 'down', error: 'Error: connection refused' }));

    await vi.waitFor(() => expect(second.run).toHaveBeenCalledTimes(1), { timeout: 3_000 });
    second.emit(second.events.GROUP_JOIN);
    expect(running.state().state).toBe('running');
    await running.stop();
    expect(running.state().state).toBe('stopped');
  });

  it('keeps retrying the replacement until it connects', async () => {
    const first = new FakeConsumer();
    const failing = new FakeConsumer();
    failing.connect.mockRejectedValue(new Error('connection refused'));
    const third = new FakeConsumer();
    const running = runnerWith([first, failing, third]).start(definition);

    await vi.waitFor(() => expect(first.run).toHaveBeenCalledTimes(1));
    first.crash(false);
    await vi.waitFor(() => expect(third.run).toHaveBeenCalledTimes(1), { timeout: 5_000 });
    expect(failing.disconnect).toHaveBeenCalled();

    await running.stop();
    expect(third.connected).toBe(false);
  });
});
