/**
 * What an API key may do. A route names the one scope it needs with `@RequireScope()`; a key
 * holds a set of them. Bootstrap keys from configuration hold every scope.
 *
 * Reads and writes are separate so that a dashboard or a support tool can look without being
 * able to send, and `keys:admin` (creating and revoking keys) is never implied by anything else.
 */
export const SCOPES = [
  'emails:send',
  'emails:read',
  'templates:read',
  'templates:write',
  'webhooks:read',
  'webhooks:write',
  'suppressions:read',
  'suppressions:write',
  'unconfirmed:write',
  'keys:admin',
] as const;

export type Scope = (typeof SCOPES)[number];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}
