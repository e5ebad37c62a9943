import type { z } from 'zod';
import { InvalidInputError, type FieldError } from './errors.js';

/** Turns zod issues into the flat `{ path, message }` list used in every error response. */
export function toFieldErrors(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.map((issue) => ({
    path: issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)',
    message: issue.message,
  }));
}

/** Parses `input` with `schema`, throwing {@link InvalidInputError} that lists every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fieldErrors = toFieldErrors(result.error.issues);
  throw new InvalidInputError(
    `${what} is invalid: ${fieldErrors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    fieldErrors,
  );
}
