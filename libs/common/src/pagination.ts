import { z } from 'zod';

/** Rows per page when the client does not say. */
export const DEFAULT_PAGE_LIMIT = 50;
/** The most rows one page may hold: a list request costs a bounded amount whatever the table holds. */
export const MAX_PAGE_LIMIT = 200;

/**
 * One page of a list endpoint. `nextCursor` is opaque: pass it back as `?cursor=` for the page
 * after this one; `null` means this was the last page.
 */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** A page request as the repositories take it: at most `limit` rows after the key `after`. */
export interface PageRequest<K> {
  limit: number;
  after?: K;
}

/** Longer than any cursor we hand out; bounds the work of decoding a hostile one. */
const MAX_CURSOR_LENGTH = 512;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The cursor of a sort key: base64url of its JSON. Opaque to clients (they only pass it back),
 * not a secret: it holds the last row's sort key, which the client saw anyway.
 */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The sort key of a cursor, or undefined when it is not one of ours (`key` validates its shape). */
export function decodeCursor<K>(cursor: string, key: z.ZodType<K>): K | undefined {
  // Buffer's base64url decoder skips characters it does not know: check the alphabet first.
  if (cursor.length > MAX_CURSOR_LENGTH || !BASE64URL.test(cursor)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const result = key.safeParse(parsed);
  return result.success ? result.data : undefined;
}

/**
 * The zod shape of `?limit=&cursor=` for a list keyed by `key`: `limit` 1..200 (default 50), and
 * `cursor` decoded into `after`; a cursor that is not one of ours is an issue at `cursor` (a 400
 * through `parseOrThrow`). Spread it into the endpoint's own query schema for its filters.
 */
export function pageQuerySchema<K>(key: z.ZodType<K>) {
  return z.object({
    limit: z.coerce.number().int().min(1).max(MAX_PAGE_LIMIT).default(DEFAULT_PAGE_LIMIT),
    cursor: z
      .string()
      .optional()
      .transform((cursor, ctx): K | undefined => {
        if (cursor === undefined) return undefined;
        const decoded = decodeCursor(cursor, key);
        if (decoded === undefined) {
          ctx.addIssue({ code: 'custom', message: 'is not a cursor this list handed out; start again without one' });
          return z.NEVER;
        }
        return decoded;
      }),
  });
}

/** `{ limit, cursor }` as parsed by {@link pageQuerySchema}, renamed to what repositories take. */
export function pageRequestOf<K>(query: { limit: number; cursor?: K | undefined }): PageRequest<K> {
  return query.cursor === undefined ? { limit: query.limit } : { limit: query.limit, after: query.cursor };
}

/**
 * The page of `rows`, fetched with `LIMIT limit + 1`: the extra row only tells that there is a
 * next page (no count query), and the cursor is the key of the last row kept.
 */
export function pageOf<T, K>(rows: readonly T[], limit: number, keyOf: (row: T) => K): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

/** The same page with its items mapped (e.g. rows to API views). */
export function mapPage<T, U>(page: Page<T>, map: (item: T) => U): Page<U> {
  return { items: page.items.map(map), nextCursor: page.nextCursor };
}

/**
 * A `timestamptz` column as whole microseconds since the epoch, in SQL: a cursor holding a
 * `Date` would lose PostgreSQL's microseconds and skip or repeat rows created in the same
 * millisecond. `pg` returns `int8` as a string; {@link micros} validates it in a cursor.
 */
export const microsOf = (column: string): string => `(extract(epoch FROM ${column}) * 1000000)::int8`;

/** The `timestamptz` of a microseconds parameter (the inverse of {@link microsOf}), exact. */
export const timestampOfMicros = (param: string): string => `(timestamptz 'epoch' + ${param}::int8 * interval '1 microsecond')`;

/** A microseconds value as a cursor holds it. */
export const micros = z.string().regex(/^-?\d{1,18}$/);
