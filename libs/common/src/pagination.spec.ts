import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidInputError } from './errors.js';
import { decodeCursor, encodeCursor, pageOf, pageQuerySchema } from './pagination.js';
import { parseOrThrow } from './validation.js';

const key = z.tuple([z.string(), z.number().int()]);
const schema = pageQuerySchema(key);

describe('cursor pagination', () => {
  it('round-trips a sort key through an opaque base64url cursor', () => {
    const cursor = encodeCursor(['b', 7]);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, key)).toEqual(['b', 7]);
    expect(parseOrThrow(schema, { cursor, limit: '10' }, 'query')).toEqual({ cursor: ['b', 7], limit: 10 });
  });

  it('defaults the limit to 50 and bounds it to 1..200', () => {
    expect(parseOrThrow(schema, {}, 'query')).toEqual({ limit: 50 });
    expect(parseOrThrow(schema, { limit: '200' }, 'query').limit).toBe(200);
    for (const limit of ['0', '201', '-1', '2.5', 'many']) {
      expect(() => parseOrThrow(schema, { limit }, 'query')).toThrow(InvalidInputError);
    }
  });

  it('refuses a cursor it did not hand out as a 400 at the field cursor', () => {
    const bad = ['!!!', 'bm90IGpzb24', encodeCursor(['b']), encodeCursor({ a: 1 }), encodeCursor(['b', 7]) + '=', 'A'.repeat(600)];
    for (const cursor of bad) {
      let error: unknown;
      try {
        parseOrThrow(schema, { cursor }, 'query');
      } catch (e) {
        error = e;
      }
      expect(error, cursor).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).fieldErrors).toEqual([{ path: 'cursor', message: expect.any(String) }]);
    }
  });

  it('hands out a next cursor only when a row beyond the page exists', () => {
    const rows = [1, 2, 3].map((n) => ({ n }));
    expect(pageOf(rows, 3, (r) => ['x', r.n])).toEqual({ items: rows, nextCursor: null });
    const page = pageOf(rows, 2, (r) => ['x', r.n]);
    expect(page.items).toEqual(rows.slice(0, 2));
    expect(decodeCursor(page.nextCursor!, key)).toEqual(['x', 2]);
  });
});
