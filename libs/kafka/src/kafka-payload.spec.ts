import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidInputError } from '@app/common';
import { unknownKindOf } from '@app/contracts';
import { UnknownMessageKindError, parseKafkaPayload } from './kafka-payload.js';
import { BLOCKED_AFTER_FAILURES, DeadLetterMonitor, deadLetterRetryDelayMs } from './dead-letter-monitor.js';

const schema = z.strictObject({
  version: z.literal(1),
  type: z.enum(['a.made']),
  items: z.array(z.strictObject({ n: z.number() })),
  detail: z.strictObject({ note: z.string() }).optional(),
});
const kind = (value: unknown): string | undefined => unknownKindOf(value, ['a.made']);

describe('parseKafkaPayload', () => {
  it('drops unknown fields at every depth and validates the rest strictly', () => {
    const input = { version: 1, type: 'a.made', extra: 1, items: [{ n: 1, more: true }], detail: { note: 'x', deeper: { y: 1 } } };
    expect(parseKafkaPayload(schema, input, 'thing', kind)).toEqual({ version: 1, type: 'a.made', items: [{ n: 1 }], detail: { note: 'x' } });
    expect(input.extra).toBe(1); // the input is not changed
    expect(() => parseKafkaPayload(schema, { version: 1, type: 'a.made', items: [{ n: 'one', more: 1 }] }, 'thing', kind)).toThrow(/items\.0\.n/);
  });

  it('applies the input rule to unknown fields too, before anything else', () => {
    expect(() => parseKafkaPayload(schema, { version: 3, type: 'b.new', extra: 'a\u0000b' }, 'thing', kind)).toThrow(InvalidInputError);
  });

  it('tells a newer type or version (parked) from a message that is just invalid (dead-lettered)', () => {
    expect(() => parseKafkaPayload(schema, { version: 1, type: 'b.new', items: [] }, 'thing', kind)).toThrow(UnknownMessageKindError);
    expect(() => parseKafkaPayload(schema, { version: 2, type: 'a.made', items: [] }, 'thing', kind)).toThrow(UnknownMessageKindError);
    for (const invalid of [{ version: 1, type: 'NOT A TYPE', items: [] }, { version: 0, type: 'a.made', items: [] }, { type: 7 }, 'text', null]) {
      expect(() => parseKafkaPayload(schema, invalid, 'thing', kind)).toThrow(InvalidInputError);
    }
  });
});

describe('DeadLetterMonitor', () => {
  it('backs off 1 s doubling to 60 s, and reports a partition blocked from the third failure in a row until it is done with', () => {
    expect([1, 2, 3, 4, 7, 8, 50].map(deadLetterRetryDelayMs)).toEqual([1_000, 2_000, 4_000, 8_000, 60_000, 60_000, 60_000]);
    const monitor = new DeadLetterMonitor('g');
    for (let i = 1; i < BLOCKED_AFTER_FAILURES; i++) monitor.writeFailed('t:0', '5');
    expect(monitor.counts().blockedPartitions).toBe(0);
    monitor.writeFailed('t:0', '5');
    expect(monitor.counts()).toMatchObject({ blockedPartitions: 1, failedDeadLetterWrites: BLOCKED_AFTER_FAILURES });
    monitor.retainOnly({ t: [0] });
    expect(monitor.counts().blockedPartitions).toBe(1);
    monitor.retainOnly({ t: [1] }); // moved to another member in a rebalance
    expect(monitor.counts().blockedPartitions).toBe(0);
    monitor.writeFailed('t:1', '9');
    monitor.cleared('t:1');
    monitor.written(true);
    expect(monitor.counts()).toMatchObject({ blockedPartitions: 0, parked: 1, deadLettered: 0 });
  });
});
