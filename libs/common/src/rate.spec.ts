import { describe, expect, it } from 'vitest';
import { parseRate } from './rate.js';

describe('parseRate', () => {
  it('reads a count per second, minute or hour', () => {
    expect(parseRate('100/s')).toEqual({ points: 100, durationSeconds: 1 });
    expect(parseRate(' 600 / m ')).toEqual({ points: 600, durationSeconds: 60 });
    expect(parseRate('5000/h')).toEqual({ points: 5_000, durationSeconds: 3_600 });
  });

  it.each(['', '100', '0/s', '-1/s', '1.5/s', '10/d', '10/ms', 'ten/s'])('refuses %j', (text) => {
    expect(() => parseRate(text)).toThrow(/not a rate/);
  });
});
