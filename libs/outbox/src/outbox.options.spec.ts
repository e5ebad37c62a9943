import { describe, expect, it } from 'vitest';
import { DEFAULT_RELAY_OPTIONS, resolveRelayOptions } from './outbox.options.js';

describe('resolveRelayOptions', () => {
  it('fills in the defaults', () => {
    expect(resolveRelayOptions({ batchSize: 10 })).toEqual({ ...DEFAULT_RELAY_OPTIONS, batchSize: 10 });
  });

  it.each([0, -1, Number.NaN])('rejects a non-positive or non-numeric setting (%s)', (value) => {
    expect(() => resolveRelayOptions({ batchSize: value })).toThrow(/batchSize must be a positive number/);
  });
});
