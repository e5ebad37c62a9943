import { describe, expect, it } from 'vitest';
import { splitIntoRuns, type BatchStep, type ParsedMessage } from './batch-runs.js';

/** `n` is a valid message, `'x<n>'` an invalid one. */
function parsed(...messages: (number | string)[]): ParsedMessage<number, string>[] {
  return messages.map((m) => (typeof m === 'number' ? { valid: true, value: m } : { valid: false, value: m }));
}

const split = (max: number, ...messages: (number | string)[]): BatchStep<number, string>[] => [...splitIntoRuns(parsed(...messages), max)];

describe('splitIntoRuns', () => {
  it('keeps consecutive valid messages in one run, in order', () => {
    expect(split(100, 1, 2, 3)).toEqual([{ kind: 'run', items: [1, 2, 3] }]);
  });

  it('cuts runs at maxBatchSize', () => {
    expect(split(2, 1, 2, 3, 4, 5)).toEqual([
      { kind: 'run', items: [1, 2] },
      { kind: 'run', items: [3, 4] },
      { kind: 'run', items: [5] },
    ]);
  });

  it('flushes the run before an invalid message, then yields it, then starts a new run', () => {
    expect(split(100, 1, 2, 'x3', 4, 'x5', 'x6', 7)).toEqual([
      { kind: 'run', items: [1, 2] },
      { kind: 'invalid', item: 'x3' },
      { kind: 'run', items: [4] },
      { kind: 'invalid', item: 'x5' },
      { kind: 'invalid', item: 'x6' },
      { kind: 'run', items: [7] },
    ]);
  });

  it('handles an invalid message first or last, a full run right before an invalid one, and nothing at all', () => {
    expect(split(2, 'x1', 2, 3, 'x4')).toEqual([
      { kind: 'invalid', item: 'x1' },
      { kind: 'run', items: [2, 3] },
      { kind: 'invalid', item: 'x4' },
    ]);
    expect(split(1, 1, 2)).toEqual([
      { kind: 'run', items: [1] },
      { kind: 'run', items: [2] },
    ]);
    expect(split(10)).toEqual([]);
  });

  it('reads no further than the step it yields', () => {
    let read = 0;
    function* counted(): Generator<ParsedMessage<number, string>> {
      for (const message of parsed(1, 2, 'x3', 4, 5)) {
        read++;
        yield message;
      }
    }
    const steps = splitIntoRuns(counted(), 100);
    expect(steps.next().value).toEqual({ kind: 'run', items: [1, 2] });
    expect(read).toBe(3);
  });
});
