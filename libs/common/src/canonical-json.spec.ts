import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';

/** The recursive definition the iterative one must match exactly (stored hashes depend on it). */
function recursiveCanonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(recursiveCanonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${recursiveCanonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

describe('canonicalJson', () => {
  it('sorts keys and leaves out undefined members', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x', { d: undefined, c: 2 }] })).toBe('{"a":[true,null,"x",{"c":2}],"b":1}');
  });

  it('writes every JSON value exactly as the recursive definition does', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => canonicalJson(value) === recursiveCanonicalJson(value)), { numRuns: 500 });
  });

  it('does not overflow the stack on 100,000 levels of nesting', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = i % 2 === 0 ? { a: deep } : [deep];
    expect(() => recursiveCanonicalJson(deep)).toThrow(RangeError);
    expect(canonicalJson(deep)).toMatch(/^\[\{"a":\[\{"a":/);
  });
});
