/**
 * JSON with object keys sorted and `undefined` members left out, so two values that are equal as
 * data serialise alike whatever order a producer wrote their keys in: the input of the request
 * hash (idempotency keys) and of the dedup fingerprint. Changing its output changes stored hashes.
 *
 * Iterative, with its own stack: inputs are bounded in depth before they get here
 * (`findUnsafeJsonValue`), but a serialiser must not be what a deep value can crash.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  // Either a value still to write, or a literal piece (`,`, `]`, `}`, a key) to emit as it is.
  const stack: ({ value: unknown } | { piece: string })[] = [{ value }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    if ('piece' in item) {
      out.push(item.piece);
      continue;
    }
    const current = item.value;
    if (Array.isArray(current)) {
      const pending: ({ value: unknown } | { piece: string })[] = [{ piece: '[' }];
      current.forEach((element, index) => {
        if (index > 0) pending.push({ piece: ',' });
        pending.push({ value: element });
      });
      pending.push({ piece: ']' });
      for (let i = pending.length - 1; i >= 0; i--) stack.push(pending[i]!);
    } else if (current !== null && typeof current === 'object') {
      const entries = Object.entries(current as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const pending: ({ value: unknown } | { piece: string })[] = [{ piece: '{' }];
      entries.forEach(([key, v], index) => {
        pending.push({ piece: `${index > 0 ? ',' : ''}${JSON.stringify(key)}:` }, { value: v });
      });
      pending.push({ piece: '}' });
      for (let i = pending.length - 1; i >= 0; i--) stack.push(pending[i]!);
    } else {
      out.push(JSON.stringify(current));
    }
  }
  return out.join('');
}
