import type { z } from 'zod';
import { InvalidInputError, type FieldError } from './errors.js';
import { findUnsafeJsonValue } from './safe-json.js';

/** Turns zod issues into the flat `{ path, message }` list used in every error response. */
export function toFieldErrors(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.map((issue) => ({
    path: issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)',
    message: issue.message,
  }));
}

/**
 * Parses `input` with `schema`, throwing {@link InvalidInputError} that lists every bad field.
 *
 * Every external input (HTTP bodies, queries and headers, `EmailClient.send()`, Kafka messages)
 * passes here, so the one rule every input obeys is applied here first, before the schema:
 * no NUL, no lone surrogate, no nesting past `MAX_JSON_DEPTH`, no over-long or reserved key
 * (`findUnsafeJsonValue`). The schema then never meets a value it could overflow on.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const unsafe = findUnsafeJsonValue(input);
  if (unsafe) throw new InvalidInputError(`${what} is invalid: ${unsafe.path}: ${unsafe.message}`, [unsafe]);
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fieldErrors = toFieldErrors(result.error.issues);
  throw new InvalidInputError(
    `${what} is invalid: ${fieldErrors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    fieldErrors,
  );
}
