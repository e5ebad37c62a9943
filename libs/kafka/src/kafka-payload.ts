import type { z } from 'zod';
import { PARKED_CODE } from '@app/contracts';
import { DomainError, findUnsafeJsonValue, parseOrThrow } from '@app/common';

/**
 * A message of a kind this consumer does not know yet (a newer producer's type or contract
 * version): parked on the dead-letter topic with code `unknown_type`, to be replayed once the
 * consumer is upgraded. Not retriable: the same build will never know it.
 */
export class UnknownMessageKindError extends DomainError {
  readonly code = PARKED_CODE;
  readonly retriable = false;
}

/** Rounds of stripping: each removes every unknown key zod reported; nesting is reported in one round, so two suffice. */
const MAX_STRIP_ROUNDS = 3;

/**
 * Validates a Kafka payload the way a consumer of an older version must, so that a rolling
 * upgrade loses nothing:
 *
 * 1. the one input rule (`findUnsafeJsonValue`, through `parseOrThrow`) applies first, to the whole
 *    payload, unknown fields included;
 * 2. a message of a kind the consumer does not know (`unknownKind`) is an
 *    {@link UnknownMessageKindError} (parked, not dead-lettered);
 * 3. fields the schema does not know are dropped, at any depth, and the rest is validated as
 *    strictly as ever: the contracts stay strict objects (HTTP bodies with unknown fields are still
 *    a 400), and only this edge forgives what a newer producer added.
 *
 * Stripping uses the strict schema's own verdict (zod's `unrecognized_keys` issues) instead of a
 * second, loose copy of every contract, so the two can never drift apart.
 */
export function parseKafkaPayload<S extends z.ZodType>(schema: S, input: unknown, what: string, unknownKind?: (value: unknown) => string | undefined): z.output<S> {
  if (findUnsafeJsonValue(input)) return parseOrThrow(schema, input, what); // throws the input rule's error
  const kind = unknownKind?.(input);
  if (kind !== undefined) throw new UnknownMessageKindError(`${what} of an unknown kind: ${kind}; parked until a consumer that knows it replays it`);
  let value = input;
  for (let round = 0; round < MAX_STRIP_ROUNDS; round++) {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    const unknownKeys = result.error.issues.filter((issue) => issue.code === 'unrecognized_keys');
    if (unknownKeys.length === 0) break;
    value = round === 0 ? structuredClone(value) : value;
    for (const issue of unknownKeys) deleteKeys(value, issue.path, issue.keys);
  }
  return parseOrThrow(schema, value, what);
}

function deleteKeys(root: unknown, path: readonly PropertyKey[], keys: readonly string[]): void {
  let target: unknown = root;
  for (const step of path) {
    if (typeof target !== 'object' || target === null) return;
    target = (target as Record<PropertyKey, unknown>)[step];
  }
  if (typeof target !== 'object' || target === null) return;
  for (const key of keys) delete (target as Record<string, unknown>)[key];
}
