import { Injectable, Logger, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ForbiddenError, UnauthenticatedError } from '@app/common';
import { PRINCIPAL_PROPERTY, PUBLIC_ROUTE, REQUIRED_SCOPE } from './auth.decorators.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.service.js';
import { ApiRateLimiter } from './api-rate-limiter.js';
import type { Scope } from './scopes.js';

/**
 * The global guard (`APP_GUARD`) of every HTTP route.
 *
 * Invariants:
 * - Deny by default: a route is served without a key only if it is `@Public()`; a route with
 *   neither `@Public()` nor `@RequireScope()` is refused to every key (and logged), so a route
 *   added without a decision never ships open. A test enumerates both apps' routes as well.
 * - Only HTTP: Kafka handlers (`@KafkaEvent`) are served through Nest too, and global guards
 *   run for them; their authority is the broker's, so any other context passes untouched.
 * - Order: who (401) → how often (429, keyed by key id, so a key that spends its budget on
 *   refused calls is still limited) → may it (403).
 * - The error never echoes the key that was sent.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly logger = new Logger(ApiKeyGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly rateLimiter: ApiRateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC_ROUTE, targets)) return true;
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> } & Record<string, unknown>>();
    const key = bearerToken(request.headers.authorization);
    if (key === undefined) throw new UnauthenticatedError('an API key is required: Authorization: Bearer <key>');
    const principal = await this.authenticator.authenticate(key);
    if (!principal) throw new UnauthenticatedError('the API key is not valid (unknown or revoked)');
    await this.rateLimiter.consume(principal.id);
    const scope = this.reflector.getAllAndOverride<Scope | undefined>(REQUIRED_SCOPE, targets);
    if (scope === undefined) {
      this.logger.error(`${context.getClass().name}.${context.getHandler().name} declares neither @Public() nor @RequireScope(): refused`);
      throw new ForbiddenError('route_not_scoped', 'this route declares no scope and is refused to every key');
    }
    if (!principal.scopes.has(scope)) throw new ForbiddenError('missing_scope', `this API key lacks the scope "${scope}"`, { scope });
    request[PRINCIPAL_PROPERTY] = principal;
    return true;
  }
}

/** The key of `Authorization: Bearer <key>` (scheme case-insensitive, RFC 6750), or `undefined`. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i.exec(header);
  return match?.[1];
}
