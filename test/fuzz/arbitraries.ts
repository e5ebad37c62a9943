import fc from 'fast-check';

/**
 * The adversarial inputs of the fuzz suite (`test/fuzz.e2e.spec.ts`), as fast-check arbitraries:
 * the strings, values and bodies an attacker or a broken client sends. Each piece is small and
 * named, so a shrunk counterexample reads as what went wrong.
 */

/** Characters and snippets that have broken parsers, headers, databases and renderers before. */
export const NASTY_PIECES = [
  '\u0000', // NUL: PostgreSQL text cannot hold it
  '\r\n', // header injection
  '\r',
  '\n',
  '\r\nBcc: victim@example.test',
  '\r\n\r\n<html>injected</html>',
  '%0d%0aX-Injected: 1',
  '\ud800', // lone high surrogate
  '\udfff', // lone low surrogate
  '\u202e', // RIGHT-TO-LEFT OVERRIDE
  '\u2066\u2069', // isolates
  '\u200b', // zero-width space
  '\ufeff', // BOM
  '\u2028\u2029', // JS line/paragraph separators
  '\u0085', // NEL
  'e\u0301\u0301\u0301\u0301\u0301\u0301', // stacked combining marks
  'Z\u0351\u0354\u0357\u035b\u0360\u0361\u0362', // "zalgo"
  '\u{1F600}\u{1D54F}\u{10FFFF}', // astral plane
  '\u00e9\u0065\u0301', // precomposed vs decomposed
  '\u0130\u0131', // Turkish dotted/dotless i (case mapping)
  '\u00df', // sharp s: upper-cases to two letters
  '\u007f\u0008\u001b[31m', // DEL, backspace, ANSI escape
  '\\',
  '"',
  "'",
  '`',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'; DROP TABLE emails; --",
  '${process.pid}',
  '__proto__',
  'constructor',
  'prototype',
  '{{',
  '}}',
  '{{{',
  '{{constructor.constructor "return process"}}',
  '{{> partial}}',
  '{{#each this}}{{/each}}',
  '%s%s%s%n',
  '../../../../etc/passwd',
  'a@b',
  ' ',
  '',
] as const;

/** Keys that, in careless code, reach `Object.prototype` or a class. */
export const POLLUTING_KEYS = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'hasOwnProperty', 'toString', 'valueOf'] as const;

/** A string of arbitrary UTF-16 code units, lone surrogates included (`fc.string`'s default units never produce them). */
const codeUnitString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)), maxLength: 40 });

/** Strings no bigger than a field: random, nasty pieces mixed in, astral and grapheme clusters. */
export const adversarialString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_PIECES), weight: 3 },
  { arbitrary: fc.array(fc.oneof(fc.constantFrom(...NASTY_PIECES), fc.string({ maxLength: 8 })), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('')), weight: 4 },
  { arbitrary: codeUnitString, weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 1 },
);

/** Around the limits that matter (254 address, 255 key, 998 subject, 256/512 KiB text/html, 1 MiB body). */
export const overlongString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(255, 256, 999, 1_000, 65_537, 262_145, 524_289, 1_100_000), fc.constantFrom('a', ' ', '\u00e9', '\u{1F600}', '\u0000', 'x\r\n'))
  .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)));

/** JSON nested `depth` levels deep, built as text (a deep object would overflow whoever stringifies it first). */
export const deepJsonText: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(64, 512, 5_000, 50_000), fc.constantFrom('array', 'object'))
  .map(([depth, shape]) => (shape === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));

/** A JSON value of the wrong type, shape or size for nearly any field. */
export const adversarialValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: adversarialString, weight: 6 },
  { arbitrary: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -1, 2 ** 31, 2 ** 53 + 1, 1e308, -0)), weight: 2 },
  { arbitrary: fc.constantFrom(null, true, false, [], {}), weight: 2 },
  { arbitrary: fc.array(adversarialString, { maxLength: 4 }), weight: 1 },
  { arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...POLLUTING_KEYS), adversarialString), adversarialString, { maxKeys: 3 }), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
  { arbitrary: overlongString, weight: 1 },
);

/**
 * A JSON text that is a JSON object with some of its fields replaced: raw so it can carry what
 * `JSON.stringify` would never write (`"__proto__"` as an own key, values spliced in as text).
 */
export function jsonText(fields: ReadonlyArray<readonly [string, unknown | { raw: string }]>): string {
  return `{${fields
    .map(([key, value]) => `${JSON.stringify(key)}:${value !== null && typeof value === 'object' && 'raw' in value ? (value as { raw: string }).raw : JSON.stringify(value)}`)
    .join(',')}}`;
}

/** How a valid body is broken: fields replaced, dropped, added (polluting keys too), or deep JSON spliced in. */
export type Mutation =
  | { kind: 'set'; field: string; value: unknown }
  | { kind: 'drop'; field: string }
  | { kind: 'add'; field: string; value: unknown }
  | { kind: 'deep'; field: string; json: string };

/** Mutations of a body whose fields are `fields`. */
export function mutation(fields: readonly string[]): fc.Arbitrary<Mutation> {
  const field = fc.constantFrom(...fields);
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('set' as const), field, value: adversarialValue }), weight: 6 },
    { arbitrary: fc.record({ kind: fc.constant('drop' as const), field }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('add' as const), field: fc.oneof(fc.constantFrom(...POLLUTING_KEYS), adversarialString), value: adversarialValue }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('deep' as const), field, json: deepJsonText }), weight: 1 },
  );
}

/** The JSON text of `base` with `mutations` applied, in order. */
export function mutatedJson(base: Record<string, unknown>, mutations: readonly Mutation[]): string {
  const fields = new Map<string, unknown | { raw: string }>(Object.entries(base));
  for (const m of mutations) {
    if (m.kind === 'drop') fields.delete(m.field);
    else if (m.kind === 'deep') fields.set(m.field, { raw: m.json });
    else fields.set(m.field, m.value);
  }
  return jsonText([...fields]);
}

/** A body that is not a JSON object at all: garbage bytes, other JSON, truncated or deep JSON. */
export const garbageBody: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.constantFrom('', '{', '{"to":', 'null', '[]', '"x"', '{"a":1}}', '\u0000', '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}'),
  deepJsonText,
  adversarialString,
);

/**
 * Handlebars meant to break out: prototype access (`constructor.constructor`, the classic RCE
 * shape), partials and decorators that do not exist, helpers called with hostile arguments, and
 * nesting that multiplies work. A template that ever prints {@link PWNED} executed code.
 */
export const PWNED = 'PWNED49';
export const templateInjection: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    `{{#with "s" as |string|}}{{#with string.constructor as |c|}}{{c.constructor "return 'PWNED' + 7*7"}}{{/with}}{{/with}}`,
    `{{#with (lookup this "constructor") as |c|}}{{#with (lookup c "constructor") as |f|}}{{f "return 'PWNED' + 7*7"}}{{/with}}{{/with}}`,
    `{{constructor.constructor "return 'PWNED' + 7*7"}}`,
    `{{this.constructor.constructor}}`,
    `{{__proto__}}{{__proto__.constructor}}{{lookup this "__proto__"}}`,
    `{{#each (lookup this "__proto__")}}{{@key}}{{/each}}`,
    `{{> partial}}`,
    `{{> (lookup . "constructor")}}`,
    `{{#> layout}}x{{/layout}}`,
    `{{* decorator}}`,
    `{{#*inline "p"}}{{> p}}{{/inline}}{{> p}}`,
    `{{log this level="error"}}`,
    `{{@root.constructor}}`,
    `{{{name}}}`,
    `{{!-- --}}{{! }}`,
    `{{#each items}}{{#each ../items}}{{#each ../../items}}{{#each ../../../items}}x{{/each}}{{/each}}{{/each}}{{/each}}`,
    `{{#each}}{{/each}}`,
    `{{#each items}}`,
    `{{/each}}`,
    `{{`,
    `{{#if}}`,
    `{{name`,
    `{{lookup}}`,
    `{{blockHelperMissing "x"}}{{helperMissing "x"}}`,
  ),
  fc.constantFrom(100, 2_000, 20_000).map((depth) => `${'{{#if name}}'.repeat(depth)}x${'{{/if}}'.repeat(depth)}`),
  fc.constantFrom(100, 5_000).map((n) => '{{name}}'.repeat(n)),
  adversarialString,
);

/** A JSON value for `data`: ordinary, hostile, or sized to make an `{{#each}}` multiply. */
export const templateData: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ name: adversarialString, items: fc.array(adversarialString, { maxLength: 5 }) }),
  fc.constantFrom(10, 60, 300).map((n) => ({ name: 'x', items: Array.from({ length: n }, (_, i) => i) })),
  fc.dictionary(fc.constantFrom(...POLLUTING_KEYS, 'name', 'items'), adversarialValue, { maxKeys: 4 }),
  adversarialValue,
);

/** A header value: nasty pieces (CRLF, NUL, non-ASCII) and raw bytes. */
export const adversarialHeaderValue: fc.Arbitrary<string | Buffer> = fc.oneof(
  adversarialString,
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom(300, 9_000, 70_000).map((n) => 'k'.repeat(n)),
);

/** A value for `Authorization`: garbage, wrong schemes, and tokens with injected bytes. */
export const adversarialAuthorization: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.constantFrom('', 'Bearer', 'Bearer ', 'Bearer  ', 'bearer x', 'Basic YWRtaW46YWRtaW4=', 'Bearer null', 'Bearer undefined', 'Bearer __proto__', 'Bearer \u0000', 'Bearer a.b.c', 'Digest x', 'Bearer ' + 'x'.repeat(10_000)),
  fc.tuple(fc.constantFrom('Bearer ', 'Basic ', '', 'Token '), adversarialHeaderValue).map(([scheme, value]) => Buffer.concat([Buffer.from(scheme), Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8')])),
);

/** Whether `value` (any JSON) holds a NUL or a lone surrogate anywhere, keys included. Iterative: deep values do not overflow the stack. */
export function holdsUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000') || LONE_SURROGATE.test(v)) return true;
    } else if (Array.isArray(v)) {
      stack.push(...v);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) stack.push(k, inner);
    }
  }
  return false;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
