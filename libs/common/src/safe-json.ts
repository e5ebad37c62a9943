import type { FieldError } from './errors.js';

/** Deepest nesting of objects and arrays accepted in any input (the root object is level 1). */
export const MAX_JSON_DEPTH = 32;
/** Longest object key accepted in any input, in characters. */
export const MAX_JSON_KEY_LENGTH = 256;

/**
 * Keys refused in any input object. `__proto__` would set an object's prototype when copied by
 * assignment (zod's `z.record` drops it silently, so the data would change meaning without a
 * word). `constructor` and `prototype` stay allowed: as own data keys they pollute nothing, they
 * are ordinary words in customers' metadata, and refusing them would dead-letter requests that
 * versions before this rule accepted and may still be in flight during an upgrade.
 */
const RESERVED_KEYS = new Set(['__proto__']);

export interface SafeJsonLimits {
  /** Default {@link MAX_JSON_DEPTH}. */
  maxDepth?: number;
  /** Default {@link MAX_JSON_KEY_LENGTH}. */
  maxKeyLength?: number;
}

interface Visit {
  value: unknown;
  key: string | number | null;
  parent: Visit | null;
  depth: number;
}

/**
 * The first value in `value` (depth first, in document order) that no input may carry, as a field
 * error naming its path (`metadata.a.b`, `(root)` for the value itself):
 * - a string or key with a NUL character (PostgreSQL refuses `\u0000` in `text` and `jsonb`);
 * - a string or key with a lone surrogate, i.e. not well-formed Unicode (PostgreSQL refuses it
 *   too, and it cannot be encoded as UTF-8 for a mail);
 * - objects and arrays nested deeper than `maxDepth` (recursive code further on, from zod to
 *   `canonicalJson`, to V8's structured clone, must never meet unbounded depth);
 * - a key longer than `maxKeyLength`, or a reserved key (`__proto__`).
 *
 * Iterative, with its own stack, so it cannot overflow whatever the input's depth; it stops at
 * the first finding and never descends past `maxDepth`. Only plain objects and arrays are walked:
 * a `Date` or `Buffer` given to `send()` by the host's code is left to the schema.
 */
export function findUnsafeJsonValue(value: unknown, limits: SafeJsonLimits = {}): FieldError | null {
  const maxDepth = limits.maxDepth ?? MAX_JSON_DEPTH;
  const maxKeyLength = limits.maxKeyLength ?? MAX_JSON_KEY_LENGTH;
  const stack: Visit[] = [{ value, key: null, parent: null, depth: 0 }];
  // A JavaScript caller may pass one object at several places (or a cycle): walk it once.
  const seen = new Set<object>();
  for (let visit = stack.pop(); visit; visit = stack.pop()) {
    const current = visit.value;
    if (typeof current === 'string') {
      const problem = stringProblem(current);
      if (problem) return { path: pathOf(visit), message: problem };
      continue;
    }
    if (current === null || typeof current !== 'object' || !isWalked(current) || seen.has(current)) continue;
    seen.add(current);
    const depth = visit.depth + 1;
    if (depth > maxDepth) return { path: pathOf(visit), message: `is nested more than ${maxDepth} levels deep` };
    const children: Visit[] = [];
    if (Array.isArray(current)) {
      current.forEach((item, index) => children.push({ value: item, key: index, parent: visit, depth }));
    } else {
      for (const key of Object.keys(current)) {
        const child: Visit = { value: (current as Record<string, unknown>)[key], key, parent: visit, depth };
        const problem = keyProblem(key, maxKeyLength);
        if (problem) return { path: pathOf(child), message: problem };
        children.push(child);
      }
    }
    // Reversed onto the stack, so the first child is walked first: the first finding in document order.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return null;
}

function stringProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character';
  if (!(text as unknown as { isWellFormed(): boolean }).isWellFormed()) return 'contains a lone surrogate (not valid Unicode)';
  return null;
}

function keyProblem(key: string, maxKeyLength: number): string | null {
  if (RESERVED_KEYS.has(key)) return `is a reserved key (${key})`;
  if (key.length > maxKeyLength) return `is a key longer than ${maxKeyLength} characters`;
  const problem = stringProblem(key);
  return problem && `is a key that ${problem}`;
}

function isWalked(value: object): boolean {
  if (Array.isArray(value)) return true;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** `metadata.a.0.b`, as `toFieldErrors` writes zod's paths; the key of a bad key is its last segment. */
function pathOf(visit: Visit): string {
  const segments: string[] = [];
  for (let at: Visit | null = visit; at && at.key !== null; at = at.parent) segments.push(sanitizeSegment(at.key));
  return segments.length > 0 ? segments.reverse().join('.') : '(root)';
}

/** A key is echoed in the error: never echo a NUL or a lone surrogate (the error itself would not serialise), nor 10 KB of it. */
function sanitizeSegment(key: string | number): string {
  const text = String(key);
  const safe = text.replaceAll('\u0000', '\\u0000').replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return safe.length > 64 ? `${safe.slice(0, 64)}…` : safe;
}
