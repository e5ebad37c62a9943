import { describe, expect, it } from 'vitest';
import { httpRoutesOf } from '@app/testing';
import { AppModule } from './app.module.js';
import { loadMailerConfig } from './config.js';

/**
 * Deny by default, checked ahead of time: every HTTP route of the mailer is either `@Public()`
 * or names the scope a key needs. Its Kafka handlers are not HTTP routes and the guard passes them.
 */
describe('mailer routes', () => {
  const config = loadMailerConfig({
    MAILER_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/mailer',
    KAFKA_BROKERS: '127.0.0.1:9092',
    REDIS_URL: 'redis://127.0.0.1:6379',
    SMTP_URL: 'smtp://127.0.0.1:2525',
  });
  const routes = httpRoutesOf(AppModule.forConfig(config));

  it('has a @Public or a @RequireScope decision on every route, and only health is public', () => {
    expect(routes.filter((r) => !r.public && r.scope === undefined).map((r) => r.route)).toEqual([]);
    expect(routes.filter((r) => r.public).map((r) => r.route).sort()).toEqual(['GET /health', 'GET /health/ready']);
  });

  it('asks the documented scopes', () => {
    expect(Object.fromEntries(routes.filter((r) => !r.public).map((r) => [r.route, r.scope]))).toEqual({
      'GET /v1/suppressions': 'suppressions:read',
      'POST /v1/suppressions': 'suppressions:write',
      'DELETE /v1/suppressions/:address': 'suppressions:write',
      'GET /v1/unconfirmed': 'emails:read',
      'POST /v1/unconfirmed/:emailId/reconcile': 'unconfirmed:write',
      'POST /v1/api-keys': 'keys:admin',
      'GET /v1/api-keys': 'keys:admin',
      'DELETE /v1/api-keys/:id': 'keys:admin',
    });
  });
});
