import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Global, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { SCOPES, type ApiKeyPrincipal } from '@app/auth';
import type { EmailEventType } from '@app/contracts';
import { InvalidInputError, type Page } from '@app/common';
import type { EmailStatusEvent } from '@app/email';
import { createMigratedDatabase, dropMigratedDatabase, statementLoggingDataSource, waitFor } from '@app/testing';
import {
  DESTINATION_NOT_ALLOWED,
  PLAIN_HTTP_REFUSAL,
  parseAllowedNetworks,
  systemWebhookResolver,
  verifyWebhook,
  webhookSecretsKeyId,
  type WebhookResolver,
} from '@app/webhooks';
import { WebhookDeliveryService } from './webhook-delivery.service.js';
import { WebhookFanoutService } from './webhook-fanout.service.js';
import { WEBHOOK_QUEUE_NAME, WebhookQueue } from './webhook-queue.js';
import { WebhookSecretsReencryptionService } from './webhook-secrets-reencryption.service.js';
import { WebhooksController } from './webhooks.controller.js';
import { WebhookEndpointLimitError, WebhookEndpointNotFoundError } from './webhooks.errors.js';
import { WEBHOOK_MIGRATIONS, WebhooksModule } from './webhooks.module.js';
import type { WebhooksOptions } from './webhooks.options.js';
import { WebhooksService, type WebhookDeliveryView, type WebhookEndpointView } from './webhooks.service.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The receiver listens here; the only loopback address the allowed networks hold. */
const RECEIVER_HOST = '127.0.0.2';

const keyOf = (id: string, scopes: ApiKeyPrincipal['scopes'] = new Set(['webhooks:read', 'webhooks:write'])): ApiKeyPrincipal => ({ id, name: id, scopes });
const admin = keyOf('bootstrap:0', new Set(SCOPES));

/** Names this test resolves itself; any other goes to the system resolver (`localhost` → 127.0.0.1). */
const names: Record<string, string> = {
  'receiver.example.test': RECEIVER_HOST,
  'loopback.example.test': '127.0.0.1',
  'inside.example.test': '10.99.1.1',
  'outside.example.test': '93.184.215.14',
};
const resolve: WebhookResolver = async (hostname) => {
  const address = names[hostname];
  return address === undefined ? systemWebhookResolver(hostname) : [{ address, family: 4 }];
};

describe('webhooks: ownership, caps, bulk fan-out, SSRF text, secrets at rest, pagination', () => {
  let url: string;
  let migrated: DataSource;
  let dataSource: DataSource;
  let statements: string[];
  let app: TestingModule;
  let webhooks: WebhooksService;
  let controller: WebhooksController;
  let fanout: WebhookFanoutService;
  let delivery: WebhookDeliveryService;
  const requests: { headers: IncomingHttpHeaders; body: string }[] = [];
  let server: Server;
  let receiverUrl = '';
  const queuePrefix = `wh-sec-${randomUUID().slice(0, 8)}`;
  const secretsKey = randomBytes(32);
  const options: WebhooksOptions = {
    redisUrl: REDIS_URL,
    queuePrefix,
    concurrency: 5,
    timeoutMs: 2_000,
    retrySchedule: [200, 400],
    allowedNetworks: parseAllowedNetworks(`${RECEIVER_HOST}/32,10.99.0.0/16`),
    secretRotationGraceMs: 60_000,
    disableAfterMs: 60_000,
    retentionMs: 0,
    retentionIntervalMs: 3_600_000,
    sweepIntervalMs: 3_600_000,
    maxEndpointsPerKey: 1_000,
    maxEndpoints: 10_000,
    secretsKeys: { current: secretsKey, previous: [] },
    resolve,
  };

  const statusEvent = (type: EmailEventType, emailId = randomUUID()): EmailStatusEvent => ({
    eventId: randomUUID(),
    type,
    emailId,
    occurredAt: new Date().toISOString(),
    detail: { attempt: 1 },
    email: { status: 'sent', attempt: 1, lane: 'transactional', messageId: null, smtpResponse: null, metadata: null },
    statusChanged: true,
  });
  const applyEvents = (events: EmailStatusEvent[]): Promise<void> =>
    dataSource.transaction(async (manager) => {
      await fanout.onEmailEvents(events, { manager });
    });
  const deliveryOf = async (endpointId: string, eventId: string): Promise<string> =>
    ((await dataSource.query(`SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2`, [endpointId, eventId])) as { id: string }[])[0]!.id;

  /** A module on this database with `overrides`, compiled but not started (as at the start of a process). */
  const compile = (overrides: Partial<WebhooksOptions> = {}): Promise<TestingModule> => {
    @Global()
    @Module({ providers: [{ provide: DataSource, useFactory: () => dataSource }], exports: [DataSource] })
    class DatabaseModule {}
    return Test.createTestingModule({ imports: [DatabaseModule, WebhooksModule.forRoot({ ...options, ...overrides })] }).compile();
  };

  /** What `call` throws or rejects with (an Error saying so when it succeeds). */
  const thrown = async (call: () => Promise<unknown>): Promise<unknown> => {
    try {
      await call();
      return new Error('resolved');
    } catch (error) {
      return error;
    }
  };

  beforeAll(async () => {
    ({ url, dataSource: migrated } = await createMigratedDatabase('webhooks_sec', WEBHOOK_MIGRATIONS));
    // Every statement the module sends is recorded: the fan-out test counts them.
    ({ dataSource, statements } = await statementLoggingDataSource(url));
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((done) => server.listen(0, RECEIVER_HOST, done));
    const { port } = server.address() as { port: number };
    receiverUrl = `http://receiver.example.test:${port}/hooks`;
    app = await compile();
    webhooks = app.get(WebhooksService);
    controller = app.get(WebhooksController);
    fanout = app.get(WebhookFanoutService);
    delivery = app.get(WebhookDeliveryService);
  });

  beforeEach(() => {
    requests.length = 0;
  });

  afterAll(async () => {
    const queue = new Queue(WEBHOOK_QUEUE_NAME, { connection: { url: REDIS_URL }, prefix: queuePrefix });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await app?.get(WebhookQueue).onApplicationShutdown();
    await new Promise((done) => server?.close(done));
    await dataSource?.destroy();
    await dropMigratedDatabase(migrated, url);
  });

  describe('ownership', () => {
    it("lets a key see and manage only its own endpoints: another key's are not found; keys:admin sees all", async () => {
      const alice = keyOf(`key-${randomUUID()}`);
      const bob = keyOf(`key-${randomUUID()}`);
      const mine = await webhooks.create(alice, { url: receiverUrl, events: ['email.sent'] });
      const event = statusEvent('email.sent');
      await applyEvents([event]);
      const deliveryId = await deliveryOf(mine.id, event.eventId);

      const notFound = [
        () => webhooks.get(bob, mine.id),
        () => webhooks.update(bob, mine.id, { enabled: false }),
        () => webhooks.update(bob, mine.id, { url: 'https://outside.example.test/x' }),
        () => webhooks.rotateSecret(bob, mine.id),
        () => webhooks.delete(bob, mine.id),
        () => webhooks.listDeliveries(bob, mine.id, { limit: 10 }),
        () => webhooks.getDelivery(bob, mine.id, deliveryId),
        () => webhooks.replay(bob, mine.id, deliveryId),
        () => webhooks.replaySince(bob, mine.id, new Date(0)),
      ];
      for (const attempt of notFound) expect(await thrown(attempt)).toBeInstanceOf(WebhookEndpointNotFoundError);
      expect((await webhooks.list(bob, { limit: 200 })).items).toEqual([]);
      expect((await webhooks.listEmailDeliveries(bob, event.emailId, { limit: 50 })).items).toEqual([]);
      // Nothing changed through bob's calls.
      expect(await webhooks.get(alice, mine.id)).toMatchObject({ enabled: true, url: receiverUrl });

      expect((await webhooks.list(alice, { limit: 200 })).items.map((e) => e.id)).toEqual([mine.id]);
      expect((await webhooks.listEmailDeliveries(alice, event.emailId, { limit: 50 })).items.map((d) => d.id)).toEqual([deliveryId]);
      expect(await webhooks.get(admin, mine.id)).toMatchObject({ id: mine.id });
      expect((await webhooks.listEmailDeliveries(admin, event.emailId, { limit: 50 })).items.map((d) => d.id)).toEqual([deliveryId]);
      expect(await webhooks.update(admin, mine.id, { description: 'seen by the admin' })).toMatchObject({ description: 'seen by the admin' });
    });

    it('leaves endpoints from before owners (owner NULL) to keys:admin alone', async () => {
      const legacy = await webhooks.create(admin, { url: receiverUrl, events: ['email.sent'] });
      await dataSource.query(`UPDATE webhook_endpoints SET owner_key_id = NULL WHERE id = $1`, [legacy.id]);
      const someone = keyOf(`key-${randomUUID()}`);
      expect(await thrown(() => webhooks.get(someone, legacy.id))).toBeInstanceOf(WebhookEndpointNotFoundError);
      expect(await webhooks.get(admin, legacy.id)).toMatchObject({ id: legacy.id });
      await webhooks.delete(admin, legacy.id);
    });
  });

  describe('caps', () => {
    it('refuses the endpoint past the per-key cap with webhook_endpoint_limit, also under concurrent creation', async () => {
      const capped = (await compile({ maxEndpointsPerKey: 3 })).get(WebhooksService);
      const key = keyOf(`key-${randomUUID()}`);
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => capped.create(key, { url: receiverUrl, events: ['email.sent'] })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      for (const r of results.filter((r) => r.status === 'rejected')) {
        expect(r.reason).toBeInstanceOf(WebhookEndpointLimitError);
        expect(r.reason).toMatchObject({ code: 'webhook_endpoint_limit', details: { limit: 'key', max: '3' } });
      }
      const [{ count }] = await dataSource.query(`SELECT count(*)::int AS count FROM webhook_endpoints WHERE owner_key_id = $1`, [key.id]);
      expect(count).toBe(3);
      // Another key still has room.
      await expect(capped.create(keyOf(`key-${randomUUID()}`), { url: receiverUrl, events: ['email.sent'] })).resolves.toMatchObject({ id: expect.any(String) });
    });

    it('refuses the endpoint past the deployment cap whoever asks', async () => {
      const [{ count }] = await dataSource.query(`SELECT count(*)::int AS count FROM webhook_endpoints`);
      const capped = (await compile({ maxEndpoints: count + 2 })).get(WebhooksService);
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => capped.create(keyOf(`key-${randomUUID()}`), { url: receiverUrl, events: ['email.sent'] })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
      expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'webhook_endpoint_limit', details: { limit: 'deployment' } } });
    });
  });

  describe('bulk fan-out', () => {
    it('fans out nothing more to the endpoints of a revoked key; other endpoints keep receiving', async () => {
      const revokedKeyId = randomUUID();
      await dataSource.query(
        `INSERT INTO api_keys (id, name, prefix, hash, scopes) VALUES ($1, 'leaked', 'el_live_xxxx', $2, '{webhooks:write}')`,
        [revokedKeyId, randomUUID()],
      );
      const leaked = await webhooks.create(keyOf(revokedKeyId), { url: receiverUrl, events: ['email.sent'] });
      const kept = await webhooks.create(keyOf(`key-${randomUUID()}`), { url: receiverUrl, events: ['email.sent'] });
      const deliveriesTo = async (endpointId: string, eventId: string): Promise<number> =>
        ((await dataSource.query(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2`, [endpointId, eventId])) as { n: number }[])[0]!.n;

      const before = statusEvent('email.sent');
      await applyEvents([before]);
      expect(await deliveriesTo(leaked.id, before.eventId)).toBe(1);

      await dataSource.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1`, [revokedKeyId]);
      const after = statusEvent('email.sent');
      await applyEvents([after]);
      expect(await deliveriesTo(leaked.id, after.eventId)).toBe(0);
      expect(await deliveriesTo(kept.id, after.eventId)).toBe(1);
    });

    it('inserts the deliveries of an event to 200 endpoints in one statement and adds their jobs in one addBulk', async () => {
      const key = keyOf(`key-${randomUUID()}`);
      // A type no other test subscribes to: the event's deliveries are exactly these endpoints'.
      const endpoints = [];
      for (let i = 0; i < 200; i++) endpoints.push(await webhooks.create(key, { url: receiverUrl, events: ['email.canceled'] }));
      app.get(WebhookQueue).onModuleInit();
      fanout.onModuleInit(); // hears the commit
      const addBulk = vi.spyOn(Queue.prototype, 'addBulk');
      const add = vi.spyOn(Queue.prototype, 'add');
      try {
        const event = statusEvent('email.canceled');
        statements.length = 0;
        await applyEvents([event]);
        const inserts = statements.filter((s) => /^INSERT INTO webhook_deliveries/i.test(s));
        expect(inserts).toHaveLength(1);
        const rows: { id: string }[] = await dataSource.query(`SELECT id FROM webhook_deliveries WHERE event_id = $1`, [event.eventId]);
        expect(rows).toHaveLength(200);

        await waitFor(() => (addBulk.mock.calls.length > 0 ? true : undefined), { timeoutMs: 5_000, description: 'the jobs added after the commit' });
        await waitFor(async () => ((await addBulk.mock.results[0]!.value) ? true : undefined), { timeoutMs: 5_000, description: 'addBulk done' });
        expect(addBulk).toHaveBeenCalledTimes(1);
        expect(add).not.toHaveBeenCalled();
        const observer = new Queue(WEBHOOK_QUEUE_NAME, { connection: { url: REDIS_URL }, prefix: queuePrefix });
        try {
          const jobs = await Promise.all(rows.map((r) => observer.getJob(r.id)));
          expect(jobs.filter((job) => job?.data.deliveryId !== undefined)).toHaveLength(200);
        } finally {
          await observer.close();
        }
      } finally {
        addBulk.mockRestore();
        add.mockRestore();
      }
    });
  });

  describe('SSRF refusal text', () => {
    it('stores and returns no address when a name resolves to a refused one', async () => {
      const key = keyOf(`key-${randomUUID()}`);
      const named = await webhooks.create(key, { url: 'https://loopback.example.test/hooks', events: ['email.rejected'] });
      // A row whose URL names localhost (refused by name at registration today, e.g. from an older version), resolved by the system.
      const local = await webhooks.create(key, { url: 'https://receiver.example.test/hooks', events: ['email.rejected'] });
      await dataSource.query(`UPDATE webhook_endpoints SET url = 'https://localhost:9/hooks' WHERE id = $1`, [local.id]);
      const event = statusEvent('email.rejected');
      await applyEvents([event]);
      for (const endpoint of [named, local]) {
        const id = await deliveryOf(endpoint.id, event.eventId);
        expect(await delivery.attempt(id)).toMatchObject({ kind: 'retry', reason: DESTINATION_NOT_ALLOWED });
        const [stored] = await dataSource.query(`SELECT d.last_error, a.error FROM webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.id = $1`, [id]);
        const detail = await webhooks.getDelivery(key, endpoint.id, id);
        const listed = await webhooks.listEmailDeliveries(key, event.emailId, { limit: 50 });
        const texts = JSON.stringify([stored, detail, listed]);
        expect(stored).toEqual({ last_error: DESTINATION_NOT_ALLOWED, error: DESTINATION_NOT_ALLOWED });
        expect(detail.lastError).toBe(DESTINATION_NOT_ALLOWED);
        expect(texts).not.toMatch(/127\.0\.0\.1|::1|loopback range/);
      }
      expect(requests).toHaveLength(0);
    });
  });

  describe('https required outside the allowed networks', () => {
    const refusedAtUrl = async (target: string): Promise<void> => {
      const error = await thrown(() => webhooks.create(keyOf(`key-${randomUUID()}`), { url: target, events: ['email.sent'] }));
      expect(error, target).toBeInstanceOf(InvalidInputError);
      expect(error).toMatchObject({ fieldErrors: [{ path: 'url', message: PLAIN_HTTP_REFUSAL }] });
    };

    it('refuses http:// to a public host or literal (400 at url), accepts it inside the allowed networks, and https:// anywhere public', async () => {
      await refusedAtUrl('http://outside.example.test/hooks');
      await refusedAtUrl('http://93.184.215.14/hooks');
      const key = keyOf(`key-${randomUUID()}`);
      for (const target of ['http://inside.example.test/hooks', 'http://10.99.0.5:8080/hooks', 'https://outside.example.test/hooks', receiverUrl]) {
        await expect(webhooks.create(key, { url: target, events: ['email.sent'] }), target).resolves.toMatchObject({ url: target });
      }
      const created = await webhooks.create(key, { url: 'https://outside.example.test/hooks', events: ['email.sent'] });
      expect(await thrown(() => webhooks.update(key, created.id, { url: 'http://outside.example.test/hooks' }))).toMatchObject({
        fieldErrors: [{ path: 'url', message: PLAIN_HTTP_REFUSAL }],
      });
    });
  });

  describe('secrets at rest', () => {
    it('stores no secret in clear, signs deliveries the receiver verifies, and keeps them verifiable across a key rotation and restart', async () => {
      const key = keyOf(`key-${randomUUID()}`);
      const endpoint = await webhooks.create(key, { url: receiverUrl, events: ['email.deduplicated'] });
      const [row] = await dataSource.query(`SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1`, [endpoint.id]);
      expect(row.secret).toMatch(new RegExp(`^enc:v1:${webhookSecretsKeyId(secretsKey)}:`));
      expect(JSON.stringify(await dataSource.query(`SELECT * FROM webhook_endpoints`))).not.toContain(endpoint.secret);
      // Shown once: never by a read.
      expect(JSON.stringify([await webhooks.get(key, endpoint.id), await webhooks.list(key, { limit: 200 })])).not.toMatch(/secret/i);

      // A row stored in clear by a version before encryption.
      const legacy = await webhooks.create(key, { url: receiverUrl, events: ['email.deduplicated'] });
      const legacySecret = 'whsec_' + randomBytes(24).toString('base64');
      await dataSource.query(`UPDATE webhook_endpoints SET secret = $2 WHERE id = $1`, [legacy.id, legacySecret]);

      const sendAndVerify = async (service: WebhookDeliveryService, secrets: Record<string, string>): Promise<void> => {
        const event = statusEvent('email.deduplicated');
        await applyEvents([event]);
        requests.length = 0;
        for (const endpointId of Object.keys(secrets)) expect(await service.attempt(await deliveryOf(endpointId, event.eventId))).toEqual({ kind: 'delivered' });
        expect(requests).toHaveLength(Object.keys(secrets).length);
        for (const request of requests) {
          const verified = Object.values(secrets).filter((secret) => {
            try {
              verifyWebhook(request.body, request.headers as Record<string, string>, secret);
              return true;
            } catch {
              return false;
            }
          });
          expect(verified).toHaveLength(1);
        }
      };
      const secrets = { [endpoint.id]: endpoint.secret, [legacy.id]: legacySecret };
      await sendAndVerify(delivery, secrets);

      // Restart with the key rotated: the old key only decrypts; start-up moves every row (and the clear one) to the new key.
      const newKey = randomBytes(32);
      const rotated = await compile({ secretsKeys: { current: newKey, previous: [secretsKey] } });
      await rotated.get(WebhookSecretsReencryptionService).onApplicationBootstrap();
      const stored: { secret: string; previous_secret: string | null }[] = await dataSource.query(`SELECT secret, previous_secret FROM webhook_endpoints`);
      for (const s of stored) {
        expect(s.secret.startsWith(`enc:v1:${webhookSecretsKeyId(newKey)}:`)).toBe(true);
        if (s.previous_secret !== null) expect(s.previous_secret.startsWith(`enc:v1:${webhookSecretsKeyId(newKey)}:`)).toBe(true);
      }
      expect(JSON.stringify(stored)).not.toContain(legacySecret);

      // Once re-encrypted the old key can go: a restart with the new key alone still signs verifiably.
      const restarted = await compile({ secretsKeys: { current: newKey, previous: [] } });
      await restarted.get(WebhookSecretsReencryptionService).onApplicationBootstrap();
      await sendAndVerify(restarted.get(WebhookDeliveryService), secrets);
    });

    it('fails start-up with an error that names the variables, not the keys, when a row is under a key not configured', async () => {
      const unknownKey = randomBytes(32);
      const started = await compile({ secretsKeys: { current: unknownKey, previous: [] } });
      const error = (await thrown(() => started.get(WebhookSecretsReencryptionService).onApplicationBootstrap())) as Error;
      expect(error.message).toMatch(/WEBHOOK_SECRETS_KEY.*WEBHOOK_SECRETS_PREVIOUS_KEYS/);
      const configured = (await dataSource.query(`SELECT secret FROM webhook_endpoints LIMIT 1`))[0].secret as string;
      for (const k of [unknownKey, secretsKey]) {
        expect(error.message).not.toContain(k.toString('base64'));
        expect(error.message).not.toContain(k.toString('hex'));
      }
      expect(error.message).not.toContain(configured);
    });
  });

  describe('cursor pagination', () => {
    const walk = async <T extends { id: string }>(next: (cursor?: string) => Promise<Page<T>>, between?: () => Promise<void>): Promise<T[]> => {
      const seen: T[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await next(cursor);
        seen.push(...page.items);
        if (page.nextCursor === null) return seen;
        cursor = page.nextCursor;
        await between?.();
      }
      throw new Error('more than 100 pages');
    };

    it('walks the endpoints of a key page by page through the controller: each once, in order, unaffected by concurrent inserts', async () => {
      const key = keyOf(`key-${randomUUID()}`);
      const existing: string[] = [];
      for (let i = 0; i < 23; i++) existing.push((await webhooks.create(key, { url: receiverUrl, events: ['email.sent'] })).id);
      const inserted: string[] = [];
      const seen = await walk<WebhookEndpointView>(
        (cursor) => controller.list(key, { limit: '5', ...(cursor && { cursor }) }),
        async () => {
          inserted.push((await webhooks.create(key, { url: receiverUrl, events: ['email.sent'] })).id);
        },
      );
      const ids = seen.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.slice(0, existing.length)).toEqual(existing);
      // The ones created while walking come after, each at most once.
      expect(ids.slice(existing.length).every((id) => inserted.includes(id))).toBe(true);
    });

    it('pages deliveries newest first per endpoint and oldest first per email, each once', async () => {
      const key = keyOf(`key-${randomUUID()}`);
      const endpoint = await webhooks.create(key, { url: receiverUrl, events: ['email.expired'] });
      const emailId = randomUUID();
      const events = Array.from({ length: 12 }, () => statusEvent('email.expired', emailId));
      // One batch: many deliveries share one created_at (the transaction's now()): the id breaks the tie.
      await applyEvents(events);
      const all: { id: string }[] = await dataSource.query(
        `SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY created_at DESC, id DESC`,
        [endpoint.id],
      );
      const newestFirst = await walk<WebhookDeliveryView>((cursor) => controller.listDeliveries(key, endpoint.id, { limit: '5', ...(cursor && { cursor }) }));
      expect(newestFirst.map((d) => d.id)).toEqual(all.map((d) => d.id));
      const failedOnly = await controller.listDeliveries(key, endpoint.id, { status: 'failed' });
      expect(failedOnly).toEqual({ items: [], nextCursor: null });
      const byEmail = await walk<WebhookDeliveryView>((cursor) => controller.listEmailDeliveries(key, emailId, { limit: '1', ...(cursor && { cursor }) }));
      expect(byEmail.map((d) => d.id)).toEqual([...all].reverse().map((d) => d.id));
    });

    it('bounds the limit (default 50, at most 200) and refuses a cursor it did not hand out as a 400 at cursor', async () => {
      const key = keyOf(`key-${randomUUID()}`);
      for (let i = 0; i < 3; i++) await webhooks.create(key, { url: receiverUrl, events: ['email.sent'] });
      expect((await controller.list(admin, {})).items).toHaveLength(50);
      expect((await controller.list(admin, { limit: '200' })).items.length).toBeLessThanOrEqual(200);
      for (const query of [{ limit: '0' }, { limit: '201' }, { limit: 'x' }]) {
        expect(await thrown(() => controller.list(key, query))).toMatchObject({ code: 'invalid_input', fieldErrors: [{ path: 'limit' }] });
      }
      const endpointId = (await controller.list(key, {})).items[0]!.id;
      for (const cursor of ['garbage!', Buffer.from('["x"]').toString('base64url'), Buffer.from(`["1", "${endpointId}", 3]`).toString('base64url')]) {
        for (const call of [
          () => controller.list(key, { cursor }),
          () => controller.listDeliveries(key, endpointId, { cursor }),
          () => controller.listEmailDeliveries(key, randomUUID(), { cursor }),
        ]) {
          expect(await thrown(call)).toMatchObject({ code: 'invalid_input', fieldErrors: [{ path: 'cursor' }] });
        }
      }
    });
  });
});
