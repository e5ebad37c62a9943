import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller, Get, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiExceptionFilter } from '@app/common';
import { createMigratedDatabase, dropMigratedDatabase, waitFor } from '@app/testing';
import type { DataSource } from 'typeorm';
import { CurrentApiKey, Public, RequireScope } from './auth.decorators.js';
import type { ApiKeyPrincipal } from './api-key.principal.js';
import { hashApiKey } from './api-key.secret.js';
import { API_KEY_MIGRATIONS } from './api-keys.migration.js';
import { ApiKeysModule } from './api-keys.module.js';
import type { ApiKeysModuleOptions } from './api-keys.options.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

@Controller()
class ProbeController {
  @Get('health')
  @Public()
  health(): { ok: true } {
    return { ok: true };
  }

  @Post('v1/send')
  @RequireScope('emails:send')
  send(@CurrentApiKey() key: ApiKeyPrincipal): { id: string; scopes: string[] } {
    return { id: key.id, scopes: [...key.scopes] };
  }

  @Get('v1/read')
  @RequireScope('emails:read')
  read(): { ok: true } {
    return { ok: true };
  }

  /** Forgot its decorator: must be refused to every key. */
  @Get('v1/undecided')
  undecided(): { ok: true } {
    return { ok: true };
  }
}

describe('API keys: guard, store, rate limit (HTTP, PostgreSQL, Redis)', () => {
  const bootstrapKey = `bootstrap-${randomBytes(16).toString('hex')}`;
  const prefix = `auth-int-${randomBytes(4).toString('hex')}`;
  let url: string;
  let dataSource: DataSource;
  const apps: NestExpressApplication[] = [];
  const bases: string[] = [];

  async function startApp(overrides: Partial<ApiKeysModuleOptions> = {}): Promise<string> {
    const app = await NestFactory.create<NestExpressApplication>(
      {
        module: class AuthIntHost {},
        imports: [
          TypeOrmModule.forRoot({ type: 'postgres', url, extra: { max: 4 } }),
          ApiKeysModule.forRoot({
            app: 'business',
            bootstrapKeyHashes: [hashApiKey(bootstrapKey)],
            bootstrapKeysVariable: 'BUSINESS_API_KEYS',
            rateLimit: { redisUrl: REDIS_URL, keyPrefix: `${prefix}:rate`, rate: { points: 1_000, durationSeconds: 1 } },
            ...overrides,
          }),
        ],
        controllers: [ProbeController],
      },
      { logger: false },
    );
    app.useGlobalFilters(new ApiExceptionFilter());
    await app.listen(0, '127.0.0.1');
    apps.push(app);
    const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    bases.push(base);
    return base;
  }

  const call = async (base: string, method: string, path: string, key?: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(key !== undefined && { authorization: `Bearer ${key}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null, text };
  };

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('auth_int', API_KEY_MIGRATIONS));
    await startApp();
    await startApp();
  });

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await dropMigratedDatabase(dataSource, url);
  });

  it('serves a @Public route without a key', async () => {
    expect((await call(bases[0]!, 'GET', '/health')).status).toBe(200);
  });

  it('answers 401 with WWW-Authenticate without a key, with a wrong one, with a malformed header', async () => {
    for (const auth of [undefined, 'el_live_wrong', `${bootstrapKey}x`]) {
      const res = await call(bases[0]!, 'POST', '/v1/send', auth);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(res.body).toMatchObject({ error: { code: 'unauthenticated' } });
      if (auth) expect(res.text).not.toContain(auth);
    }
    const basic = await fetch(`${bases[0]}/v1/send`, { method: 'POST', headers: { authorization: `Basic ${bootstrapKey}` } });
    expect(basic.status).toBe(401);
  });

  it('lets the bootstrap key call every scoped route, as bootstrap:1 with every scope', async () => {
    const res = await call(bases[0]!, 'POST', '/v1/send', bootstrapKey);
    expect(res.status).toBe(201);
    expect(res.body.id).toBe('bootstrap:1');
    expect(res.body.scopes).toContain('keys:admin');
  });

  it('refuses a route with neither @Public nor @RequireScope to every key (deny by default)', async () => {
    const res = await call(bases[0]!, 'GET', '/v1/undecided', bootstrapKey);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('route_not_scoped');
  });

  it('creates a key shown once, which works for its scopes, is 403 naming a missing scope, and is listed without its secret', async () => {
    const created = await call(bases[0]!, 'POST', '/v1/api-keys', bootstrapKey, { name: 'ci', scopes: ['emails:send'] });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect(key).toMatch(/^el_live_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({ name: 'ci', scopes: ['emails:send'], senderDomains: null, prefix: key.slice(0, 12) });

    // On the other instance too: nothing about a key is held per instance but a short cache.
    const sent = await call(bases[1]!, 'POST', '/v1/send', key);
    expect(sent.status).toBe(201);
    expect(sent.body.id).toBe(created.body.id);
    const forbidden = await call(bases[1]!, 'GET', '/v1/read', key);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error).toEqual({ code: 'missing_scope', message: 'this API key lacks the scope "emails:read"', details: { scope: 'emails:read' } });
    expect((await call(bases[0]!, 'GET', '/v1/api-keys', key)).status).toBe(403); // keys:admin is never implied

    const list = await call(bases[0]!, 'GET', '/v1/api-keys', bootstrapKey);
    expect(list.status).toBe(200);
    const item = list.body.items.find((k: { id: string }) => k.id === created.body.id);
    expect(item).toMatchObject({ name: 'ci', prefix: key.slice(0, 12), revokedAt: null });
    expect(list.text).not.toContain(key);
    expect(list.text).not.toContain(hashApiKey(key));
    expect(Object.keys(item).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt', 'scopes', 'senderDomains']);
    const [row] = await dataSource.query(`SELECT hash FROM api_keys WHERE id = $1`, [created.body.id]);
    expect(row.hash).toBe(hashApiKey(key));
    // last_used_at is written off the request path.
    await waitFor(async () => (await dataSource.query(`SELECT last_used_at FROM api_keys WHERE id = $1`, [created.body.id]))[0].last_used_at !== null, {
      timeoutMs: 5_000,
      description: 'last_used_at to be recorded',
    });
  });

  it('refuses a bad body at the field, and changes nothing', async () => {
    const before = (await dataSource.query(`SELECT count(*)::int AS n FROM api_keys`))[0].n;
    const res = await call(bases[0]!, 'POST', '/v1/api-keys', bootstrapKey, { name: 'x', scopes: ['emails:send', 'root'] });
    expect(res.status).toBe(400);
    expect(res.body.error.fields.map((f: { path: string }) => f.path)).toEqual(['scopes.1']);
    const domains = await call(bases[0]!, 'POST', '/v1/api-keys', bootstrapKey, { name: 'x', scopes: ['emails:send'], senderDomains: ['not a domain'] });
    expect(domains.status).toBe(400);
    expect(domains.body.error.fields[0].path).toBe('senderDomains.0');
    expect((await dataSource.query(`SELECT count(*)::int AS n FROM api_keys`))[0].n).toBe(before);
  });

  it('revokes a key: 401 at once on the instance that revoked, within the cache lifetime on the other', async () => {
    const { body } = await call(bases[0]!, 'POST', '/v1/api-keys', bootstrapKey, { name: 'short-lived', scopes: ['emails:send'] });
    expect((await call(bases[0]!, 'POST', '/v1/send', body.key)).status).toBe(201);
    expect((await call(bases[1]!, 'POST', '/v1/send', body.key)).status).toBe(201); // cached there now
    expect((await call(bases[0]!, 'DELETE', `/v1/api-keys/${body.id}`, bootstrapKey)).status).toBe(204);
    expect((await call(bases[0]!, 'POST', '/v1/send', body.key)).status).toBe(401);
    await waitFor(async () => (await call(bases[1]!, 'POST', '/v1/send', body.key)).status === 401, {
      timeoutMs: 7_000,
      intervalMs: 250,
      description: 'the other instance to refuse the revoked key',
    });
    expect((await call(bases[0]!, 'DELETE', `/v1/api-keys/7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d`, bootstrapKey)).status).toBe(404);
    const list = await call(bases[0]!, 'GET', '/v1/api-keys', bootstrapKey);
    expect(list.body.items.find((k: { id: string }) => k.id === body.id).revokedAt).not.toBeNull();
  });

  it('pages the list by an opaque cursor, newest first, and refuses a forged cursor', async () => {
    for (let i = 0; i < 5; i++) await call(bases[0]!, 'POST', '/v1/api-keys', bootstrapKey, { name: `page-${i}`, scopes: ['emails:read'] });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { id: string; createdAt: string }[]; nextCursor: string | null } } = await call(
        bases[0]!,
        'GET',
        `/v1/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        bootstrapKey,
      );
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((k) => k.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    const all = (await dataSource.query(`SELECT id FROM api_keys ORDER BY created_at DESC, id DESC`)).map((r: { id: string }) => r.id);
    expect(seen).toEqual(all);
    const forged = await call(bases[0]!, 'GET', '/v1/api-keys?cursor=bm90LWEtY3Vyc29y', bootstrapKey);
    expect(forged.status).toBe(400);
    expect(forged.body.error.fields[0].path).toBe('cursor');
  });

  it('limits each key across instances sharing Redis: 429 with Retry-After', async () => {
    const limitedPrefix = `${prefix}:limited`;
    const options = { rateLimit: { redisUrl: REDIS_URL, keyPrefix: limitedPrefix, rate: { points: 4, durationSeconds: 60 } } };
    const [a, b] = [await startApp(options), await startApp(options)];
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(i % 2 === 0 ? a : b, 'POST', '/v1/send', bootstrapKey)).status);
    expect(statuses).toEqual([201, 201, 201, 201, 429, 429]);
    const limited = await call(b, 'POST', '/v1/send', bootstrapKey);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    // Another key has a budget of its own.
    const { body } = await call(bases[0]!, 'POST', '/v1/api-keys', bootstrapKey, { name: 'other', scopes: ['emails:send'] });
    expect((await call(a, 'POST', '/v1/send', body.key)).status).toBe(201);
  });

  it('fails open when Redis does not answer: the key is still checked, the limit skipped', async () => {
    const base = await startApp({ rateLimit: { redisUrl: 'redis://127.0.0.1:1', keyPrefix: `${prefix}:down`, rate: { points: 1, durationSeconds: 60 } } });
    for (let i = 0; i < 3; i++) expect((await call(base, 'POST', '/v1/send', bootstrapKey)).status).toBe(201);
    expect((await call(base, 'POST', '/v1/send', 'el_live_nope')).status).toBe(401);
  });
});
