import { describe, expect, it, vi } from 'vitest';
import type { EachBatchPayload } from 'kafkajs';
import { z } from 'zod';
import type { KafkaProducer } from './kafka-producer.js';
import { BatchOutcomeMismatchError, PartitionProcessor, classifyFailure, type BatchItem, type ConsumerDefinition, type HandlerOutcome } from './partition-processor.js';

const schema = z.object({ n: z.number() });
type Item = BatchItem<z.output<typeof schema>>;

/** A kafkajs batch of `values` (offsets 0, 1, …) on partition 0, recording what the processor resolves and pauses. */
function fakeBatch(values: string[], running: () => boolean = () => true) {
  const resolved: string[] = [];
  const paused = vi.fn(() => () => undefined);
  const payload = {
    batch: { topic: 't', partition: 0, messages: values.map((value, i) => ({ offset: String(i), key: null, value: Buffer.from(value), headers: {} })) },
    resolveOffset: (offset: string) => resolved.push(offset),
    heartbeat: async () => undefined,
    isRunning: running,
    isStale: () => false,
    pause: paused,
  } as unknown as EachBatchPayload;
  return { payload, resolved, paused };
}

function processor(handleBatch: (items: readonly Item[]) => Promise<HandlerOutcome[]>, extra: Partial<ConsumerDefinition<typeof schema>> = {}) {
  const definition: ConsumerDefinition<typeof schema> = { groupId: 'g', topics: ['t'], schema, description: 'test message', handleBatch, ...extra };
  const processor = new PartitionProcessor(definition, { send: async () => undefined } as unknown as KafkaProducer, new AbortController().signal);
  return processor;
}

const values = (...ns: number[]): string[] => ns.map((n) => JSON.stringify({ n }));

/**
 * The processor's batch logic without a broker: the real delivery behaviour (commits, dead
 * letters, restarts) is covered by `kafka-consumer.int.spec.ts`.
 */
describe('PartitionProcessor with handleBatch', () => {
  it('resolves only the last offset of a run that succeeded', async () => {
    const calls: number[][] = [];
    const p = processor(async (items) => {
      calls.push(items.map((i) => i.payload.n));
      return items.map(() => 'processed');
    }, { maxBatchSize: 2 });
    const { payload, resolved } = fakeBatch(values(1, 2, 3));
    await p.eachBatch(payload);
    expect(calls).toEqual([[1, 2], [3]]);
    expect(resolved).toEqual(['1', '2']);
  });

  it('treats outcomes of the wrong length as a transient failure: nothing of the run is resolved', async () => {
    expect(classifyFailure(new BatchOutcomeMismatchError(2, []))).toBe('transient');
    const calls: number[][] = [];
    const p = processor(async (items) => {
      calls.push(items.map((i) => i.payload.n));
      return items.length === 1 && items[0]!.payload.n === 1 ? ['processed'] : [];
    });
    const { payload, resolved, paused } = fakeBatch(values(1, 2, 3));
    await p.eachBatch(payload);
    // The run failed, so it was tried one message at a time: 1 is done, 2 failed and waits.
    expect(calls).toEqual([[1, 2, 3], [1], [2]]);
    expect(resolved).toEqual(['0']);
    expect(paused).toHaveBeenCalledTimes(1);
    p.close();
  });

  it('stops between runs once kafkajs stops running', async () => {
    let runs = 0;
    const p = processor(async (items) => {
      runs++;
      return items.map(() => 'processed');
    }, { maxBatchSize: 1 });
    const { payload, resolved } = fakeBatch(values(1, 2, 3), () => runs < 2);
    await p.eachBatch(payload);
    expect(resolved).toEqual(['0', '1']);
  });

  it('refuses a definition without a handler or with a bad maxBatchSize', () => {
    expect(() => processor(undefined as never)).toThrow(/needs handle\(\) or handleBatch\(\)/);
    expect(() => processor(async () => [], { maxBatchSize: 1.5 })).toThrow(/maxBatchSize must be a positive integer/);
  });
});
