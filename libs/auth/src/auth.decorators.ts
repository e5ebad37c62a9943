import { SetMetadata, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { ApiKeyPrincipal } from './api-key.principal.js';
import type { Scope } from './scopes.js';

export const PUBLIC_ROUTE = 'auth:public';
export const REQUIRED_SCOPE = 'auth:scope';

/**
 * A route anyone may call without a key: health checks for load balancers, and the unsubscribe
 * endpoints mailbox providers post to. Every other route needs a key.
 */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_ROUTE, true);

/** The scope a key must hold to call this route (on a handler, or on a controller for all of its handlers). */
export const RequireScope = (scope: Scope): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_SCOPE, scope);

/** The request property the guard sets. */
export const PRINCIPAL_PROPERTY = 'apiKey';

/** The authenticated caller of this request (see {@link ApiKeyPrincipal}). */
export const CurrentApiKey = createParamDecorator((_data: unknown, ctx: ExecutionContext): ApiKeyPrincipal => {
  const request = ctx.switchToHttp().getRequest<Record<string, unknown>>();
  const principal = request[PRINCIPAL_PROPERTY] as ApiKeyPrincipal | undefined;
  // The guard runs before any handler; a handler reached without a principal is a wiring bug.
  if (principal === undefined) throw new Error('CurrentApiKey used on a route the API-key guard did not authenticate');
  return principal;
});
