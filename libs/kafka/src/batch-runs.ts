/** A message as parsed: its validated form, or what makes it invalid. */
export type ParsedMessage<V, I> = { valid: true; value: V } | { valid: false; value: I };

/** What to do next with a partition's messages, in offset order. */
export type BatchStep<V, I> = { kind: 'run'; items: V[] } | { kind: 'invalid'; item: I };

/**
 * Splits a partition's messages, in offset order, into runs of consecutive valid messages (at most
 * `maxBatchSize` each) and the invalid messages between them. An invalid message comes after the
 * run before it, so that offsets are resolved in order. Lazy: a message is read only when the
 * step it belongs to is needed, so nothing beyond the next step is parsed if the caller stops.
 */
export function* splitIntoRuns<V, I>(messages: Iterable<ParsedMessage<V, I>>, maxBatchSize: number): Generator<BatchStep<V, I>> {
  let run: V[] = [];
  for (const message of messages) {
    if (message.valid) {
      run.push(message.value);
      if (run.length < maxBatchSize) continue;
    }
    if (run.length > 0) {
      yield { kind: 'run', items: run };
      run = [];
    }
    if (!message.valid) yield { kind: 'invalid', item: message.value };
  }
  if (run.length > 0) yield { kind: 'run', items: run };
}
