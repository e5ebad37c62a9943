import { CONTRACT_VERSION } from './email-request.js';
import { EMAIL_EVENT_TYPES } from './email-event.js';
import { SUPPRESSION_CHANGE_TYPES } from './suppression.js';

/** What a message's `type` looks like on every topic of the contract: `domain.verb`. */
const MESSAGE_TYPE_PATTERN = /^[a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*$/;

/**
 * Why `value` is a message of a kind this version of the contract does not know yet (a newer
 * producer's), or `undefined`. "A kind": a JSON object whose integer `version` is higher than
 * {@link CONTRACT_VERSION}, or whose `type` has the `domain.verb` shape of the contract's types and
 * is not one of `knownTypes`. Anything else (no `type`, a `type` of another shape, a lower or
 * non-integer `version`) is not recognisable as newer: it is just invalid, and is dead-lettered.
 *
 * A consumer parks such a message (its dead-letter topic, code `unknown_type`) instead of failing
 * it, so that it can be replayed once the consumer runs the version that knows it.
 */
export function unknownKindOf(value: unknown, knownTypes: readonly string[]): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { version, type } = value as { version?: unknown; type?: unknown };
  if (typeof version === 'number' && Number.isInteger(version) && version > CONTRACT_VERSION) {
    return `contract version ${version} (this consumer knows version ${CONTRACT_VERSION})`;
  }
  if (typeof type === 'string' && type.length <= 64 && MESSAGE_TYPE_PATTERN.test(type) && !knownTypes.includes(type)) {
    return `type ${type} (this consumer knows ${knownTypes.join(', ')})`;
  }
  return undefined;
}

/** The message types of `mail.requests.<lane>`. */
export const MAIL_REQUEST_TYPES = ['email.requested', 'email.cancel_requested'] as const;

/** {@link unknownKindOf} for each topic of the contract: what a consumer of that topic parks. */
export const unknownKinds = {
  requests: (value: unknown): string | undefined => unknownKindOf(value, MAIL_REQUEST_TYPES),
  events: (value: unknown): string | undefined => unknownKindOf(value, EMAIL_EVENT_TYPES),
  suppressions: (value: unknown): string | undefined => unknownKindOf(value, SUPPRESSION_CHANGE_TYPES),
} as const;
