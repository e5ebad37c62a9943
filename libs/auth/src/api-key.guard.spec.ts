import { describe, expect, it, vi } from 'vitest';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ApiKeyAuthenticator } from './api-key-authenticator.service.js';
import { ApiKeyGuard, bearerToken } from './api-key.guard.js';
import type { ApiRateLimiter } from './api-rate-limiter.js';

describe('ApiKeyGuard', () => {
  it('lets Kafka handlers (any non-HTTP context) through without looking at keys', async () => {
    const authenticate = vi.fn();
    const guard = new ApiKeyGuard(new Reflector(), { authenticate } as unknown as ApiKeyAuthenticator, {} as ApiRateLimiter);
    const rpc = { getType: () => 'rpc' } as unknown as ExecutionContext;
    expect(await guard.canActivate(rpc)).toBe(true);
    expect(authenticate).not.toHaveBeenCalled();
  });
});

describe('bearerToken', () => {
  it('reads Authorization: Bearer <key>, the scheme in any case', () => {
    expect(bearerToken('Bearer el_live_abc')).toBe('el_live_abc');
    expect(bearerToken('bearer el_live_abc')).toBe('el_live_abc');
  });

  it('refuses anything else', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a b', ['Bearer a', 'Bearer b']]) expect(bearerToken(header)).toBeUndefined();
  });
});
