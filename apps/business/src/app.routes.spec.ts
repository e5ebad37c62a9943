import { describe, expect, it } from 'vitest';
import { httpRoutesOf } from '@app/testing';
import { AppModule } from './app.module.js';
import { loadBusinessConfig } from './config.js';

/**
 * Deny by default, checked ahead of time: every HTTP route of the business app is either
 * `@Public()` or names the scope a key needs. A route added without that decision fails here
 * (and the guard refuses it at run time as well).
 */
describe('business routes', () => {
  const config = loadBusinessConfig({
    BUSINESS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/business',
    KAFKA_BROKERS: '127.0.0.1:9092',
    REDIS_URL: 'redis://127.0.0.1:6379',
    WEBHOOK_SECRETS_KEY: Buffer.alloc(32, 7).toString('base64'),
  });
  const routes = httpRoutesOf(AppModule.forConfig(config));

  it('finds every controller, the key admin API included', () => {
    const controllers = new Set(routes.map((r) => r.controller));
    for (const name of ['EmailsController', 'TemplatesController', 'WebhooksController', 'UnsubscribeController', 'HealthController', 'ApiKeysController']) {
      expect(controllers).toContain(name);
    }
  });

  it('has a @Public or a @RequireScope decision on every route', () => {
    expect(routes.filter((r) => !r.public && r.scope === undefined).map((r) => r.route)).toEqual([]);
  });

  it('serves only health and unsubscribe without a key', () => {
    expect(routes.filter((r) => r.public).map((r) => r.route).sort()).toEqual([
      'GET /health',
      'GET /health/ready',
      'GET /v1/unsubscribe/:token',
      'POST /v1/unsubscribe/:token',
    ]);
  });

  it('asks the documented scope of the email and key routes', () => {
    const scopeOf = (route: string) => routes.find((r) => r.route === route)?.scope;
    expect(scopeOf('POST /v1/emails')).toBe('emails:send');
    expect(scopeOf('GET /v1/emails/:id')).toBe('emails:read');
    expect(scopeOf('DELETE /v1/emails/:id')).toBe('emails:send');
    expect(scopeOf('POST /v1/templates')).toBe('templates:write');
    expect(scopeOf('POST /v1/templates/:name/preview')).toBe('templates:read');
    expect(scopeOf('POST /v1/webhooks')).toBe('webhooks:write');
    expect(scopeOf('GET /v1/webhooks')).toBe('webhooks:read');
    expect(scopeOf('POST /v1/api-keys')).toBe('keys:admin');
    expect(scopeOf('DELETE /v1/api-keys/:id')).toBe('keys:admin');
  });
});
