import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidInputError } from './errors.js';
import { MAX_JSON_DEPTH, findUnsafeJsonValue } from './safe-json.js';
import { parseOrThrow } from './validation.js';

const nested = (levels: number, leaf: unknown = 'x'): unknown => {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
};

describe('findUnsafeJsonValue', () => {
  it('accepts ordinary JSON, including astral characters (well-formed surrogate pairs)', () => {
    expect(findUnsafeJsonValue({ subject: 'Hi 👋 Ådå', to: ['a@example.com'], metadata: { n: 1, ok: true, none: null } })).toBeNull();
    expect(findUnsafeJsonValue(nested(MAX_JSON_DEPTH))).toBeNull();
  });

  it('finds a NUL character and names its path', () => {
    expect(findUnsafeJsonValue({ metadata: { a: { b: 'x\u0000y' } } })).toEqual({ path: 'metadata.a.b', message: 'contains a NUL character' });
    expect(findUnsafeJsonValue({ to: ['a@example.com', 'b\u0000@example.com'] })).toEqual({ path: 'to.1', message: 'contains a NUL character' });
    expect(findUnsafeJsonValue('\u0000')).toEqual({ path: '(root)', message: 'contains a NUL character' });
  });

  it('finds lone surrogates, high or low', () => {
    for (const text of ['a\uD800', '\uDC00b', 'x\uDBFFy', '\uDC00\uD800']) {
      expect(findUnsafeJsonValue({ subject: text }), JSON.stringify(text)).toEqual({ path: 'subject', message: 'contains a lone surrogate (not valid Unicode)' });
    }
  });

  it('finds nesting past the limit at the first level too deep, without walking further', () => {
    expect(findUnsafeJsonValue(nested(MAX_JSON_DEPTH + 1))).toEqual({ path: Array(MAX_JSON_DEPTH).fill('a').join('.'), message: `is nested more than ${MAX_JSON_DEPTH} levels deep` });
    expect(findUnsafeJsonValue({ data: nested(10_000) }, { maxDepth: 3 })).toEqual({ path: 'data.a.a', message: 'is nested more than 3 levels deep' });
    // Arrays count as levels as well.
    expect(findUnsafeJsonValue([[[1]]], { maxDepth: 2 })).toEqual({ path: '0.0', message: 'is nested more than 2 levels deep' });
  });

  it('does not overflow on 100,000 levels', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnsafeJsonValue(deep)?.message).toBe(`is nested more than ${MAX_JSON_DEPTH} levels deep`);
  });

  it('refuses reserved keys, long keys and keys with NUL or lone surrogates', () => {
    expect(findUnsafeJsonValue(JSON.parse('{"metadata":{"__proto__":{"polluted":"1"}}}'))).toEqual({ path: 'metadata.__proto__', message: 'is a reserved key (__proto__)' });
    // Ordinary words as own data keys: allowed (see RESERVED_KEYS).
    expect(findUnsafeJsonValue({ data: { constructor: { prototype: 1 } } })).toBeNull();
    expect(findUnsafeJsonValue({ data: { ['k'.repeat(257)]: 1 } })?.message).toBe('is a key longer than 256 characters');
    expect(findUnsafeJsonValue({ data: { 'a\u0000b': 1 } })).toEqual({ path: 'data.a\\u0000b', message: 'is a key that contains a NUL character' });
    expect(findUnsafeJsonValue({ data: { 'a\uD800': 1 } })).toEqual({ path: 'data.a\uFFFD', message: 'is a key that contains a lone surrogate (not valid Unicode)' });
  });

  it('reports the first finding in document order', () => {
    expect(findUnsafeJsonValue({ a: ['ok', { b: '\u0000' }], c: '\uD800' })?.path).toBe('a.1.b');
  });

  it('walks a shared or cyclic object once and leaves non-plain objects to the schema', () => {
    const cyclic: Record<string, unknown> = { a: 'ok' };
    cyclic.self = cyclic;
    expect(findUnsafeJsonValue(cyclic)).toBeNull();
    expect(findUnsafeJsonValue({ at: new Date(), bytes: Buffer.from([0]) })).toBeNull();
  });
});

describe('parseOrThrow', () => {
  it('applies the rule before the schema: a 400 at the field, even where the schema accepts anything', () => {
    const schema = z.object({ data: z.record(z.string(), z.unknown()) });
    const error = (() => {
      try {
        parseOrThrow(schema, { data: { a: { b: 'x\u0000' } } }, 'preview');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).fieldErrors).toEqual([{ path: 'data.a.b', message: 'contains a NUL character' }]);
    expect((error as InvalidInputError).message).toBe('preview is invalid: data.a.b: contains a NUL character');
  });

  it('refuses what zod would silently drop (__proto__ in a record)', () => {
    const schema = z.object({ metadata: z.record(z.string(), z.string()) });
    const input = JSON.parse('{"metadata":{"__proto__":"x","a":"b"}}') as unknown;
    expect(schema.parse(input)).toEqual({ metadata: { a: 'b' } });
    expect(() => parseOrThrow(schema, input, 'request')).toThrow(InvalidInputError);
  });
});
