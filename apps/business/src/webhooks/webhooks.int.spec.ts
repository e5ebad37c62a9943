import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Global, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Queue } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { DataSource } from 'typeorm';
import { SCOPES, type ApiKeyPrincipal } from '@app/auth';
import type { EmailEventType } from '@app/contracts';
import type { EmailStatusEvent } from '@app/email';
import { createMigratedDatabase, dropMigratedDatabase, explainWithoutSeqScan, waitFor } from '@app/testing';
import { parseAllowedNetworks } from '@app/webhooks';
import { webhookDeliveryQueries } from './webhook-deliveries.repository.js';
import { WebhookDeliveryService } from './webhook-delivery.service.js';
import { webhookEndpointQueries } from './webhook-endpoints.repository.js';
import { WebhookFanoutService } from './webhook-fanout.service.js';
import { WebhookJobSweeper } from './webhook-job-sweeper.js';
import { WEBHOOK_QUEUE_NAME, WebhookQueue } from './webhook-queue.js';
import { WebhookRetentionService } from './webhook-retention.service.js';
import { WebhookWorker } from './webhook-worker.service.js';
import { WEBHOOK_MIGRATIONS, WebhooksModule } from './webhooks.module.js';
import type { WebhooksOptions } from './webhooks.options.js';
import { WebhooksService } from './webhooks.service.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const secretsKey = randomBytes(32);
/** A bootstrap key: holds every scope, `keys:admin` included, so it sees every endpoint. */
const admin: ApiKeyPrincipal = { id: 'bootstrap:0', name: 'admin', scopes: new Set(SCOPES) };

/** A receiver whose next answers the test sets; it records every request. */
class Receiver {
  readonly requests: { headers: IncomingHttpHeaders; body: string }[] = [];
  answer: { status: number; headers?: Record<string, string> } = { status: 200 };
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(this.answer.status, this.answer.headers).end('receiver says hi');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('webhooks (PostgreSQL, Redis, a loopback receiver)', () => {
  let url: string;
  let dataSource: DataSource;
  let app: TestingModule;
  let webhooks: WebhooksService;
  let fanout: WebhookFanoutService;
  let delivery: WebhookDeliveryService;
  const receiver = new Receiver();
  const queuePrefix = `wh-int-${randomUUID().slice(0, 8)}`;
  const options: WebhooksOptions = {
    redisUrl: REDIS_URL,
    queuePrefix,
    concurrency: 5,
    timeoutMs: 2_000,
    retrySchedule: [200, 400],
    allowedNetworks: parseAllowedNetworks('127.0.0.0/8'),
    secretRotationGraceMs: 60_000,
    disableAfterMs: 60_000,
    retentionMs: 30 * 86_400_000,
    retentionIntervalMs: 3_600_000,
    sweepIntervalMs: 3_600_000,
    maxEndpointsPerKey: 1_000,
    maxEndpoints: 10_000,
    secretsKeys: { current: secretsKey, previous: [] },
  };

  const statusEvent = (type: EmailEventType, emailId = randomUUID()): EmailStatusEvent => ({
    eventId: randomUUID(),
    type,
    emailId,
    occurredAt: new Date().toISOString(),
    detail: { attempt: 1, messageId: `<${emailId}@x>`, smtpResponse: '250 ok', smtpCode: 250 },
    email: { status: 'sent', attempt: 1, lane: 'transactional', messageId: `<${emailId}@x>`, smtpResponse: '250 ok', metadata: { order: '42' } },
    statusChanged: true,
  });

  /** Applies the events as the status consumer would, as one batch: the handler runs in the caller's transaction. */
  const applyEvents = (events: EmailStatusEvent[], fail = false): Promise<void> =>
    dataSource.transaction(async (manager) => {
      await fanout.onEmailEvents(events, { manager });
      if (fail) throw new Error('the status apply failed after the handler');
    });
  const applyEvent = (event: EmailStatusEvent, fail = false): Promise<void> => applyEvents([event], fail);

  const deliveriesOf = (eventId: string): Promise<{ id: string; status: string; attempts: number; next_attempt_at: Date | null }[]> =>
    dataSource.query(`SELECT id, status, attempts, next_attempt_at FROM webhook_deliveries WHERE event_id = $1`, [eventId]);
  const makeDue = (id: string): Promise<unknown> => dataSource.query(`UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1`, [id]);

  async function newDelivery(endpointId?: string): Promise<{ id: string; endpointId: string; secret: string }> {
    let secret = '';
    if (!endpointId) {
      const endpoint = await webhooks.create(admin, { url: receiver.url, events: ['email.sent'] });
      endpointId = endpoint.id;
      secret = endpoint.secret;
    }
    const event = statusEvent('email.sent');
    await applyEvent(event);
    const [row] = await dataSource.query(`SELECT id FROM webhook_deliveries WHERE event_id = $1 AND endpoint_id = $2`, [event.eventId, endpointId]);
    return { id: row.id, endpointId, secret };
  }

  @Global()
  @Module({ providers: [{ provide: DataSource, useFactory: () => dataSource }], exports: [DataSource] })
  class DatabaseModule {}

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('webhooks_int', WEBHOOK_MIGRATIONS));
    await receiver.start();
    // Compiled, not initialised: each test starts what it needs (queue, worker), nothing runs on its own.
    app = await Test.createTestingModule({ imports: [DatabaseModule, WebhooksModule.forRoot(options)] }).compile();
    webhooks = app.get(WebhooksService);
    fanout = app.get(WebhookFanoutService);
    delivery = app.get(WebhookDeliveryService);
  });

  beforeEach(() => {
    receiver.requests.length = 0;
    receiver.answer = { status: 200 };
  });

  afterAll(async () => {
    await app?.get(WebhookWorker).onApplicationShutdown();
    const queue = new Queue(WEBHOOK_QUEUE_NAME, { connection: { url: REDIS_URL }, prefix: queuePrefix });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await app?.get(WebhookQueue).onApplicationShutdown();
    await receiver.stop();
    await dropMigratedDatabase(dataSource, url);
  });

  it('creates the deliveries in the transaction that applies the event: none when it rolls back, one per endpoint however often it is redelivered', async () => {
    const a = await webhooks.create(admin, { url: receiver.url, events: ['email.sent', 'email.failed'] });
    const b = await webhooks.create(admin, { url: receiver.url, events: ['email.sent'] });
    const onlyFailed = await webhooks.create(admin, { url: receiver.url, events: ['email.failed'] });
    const disabled = await webhooks.create(admin, { url: receiver.url, events: ['email.sent'] });
    await webhooks.update(admin, disabled.id, { enabled: false });
    const event = statusEvent('email.sent');

    await expect(applyEvent(event, true)).rejects.toThrow('the status apply failed');
    expect(await deliveriesOf(event.eventId)).toEqual([]);

    await applyEvent(event);
    await applyEvent(event); // Kafka redelivers; the unique (endpoint, event) keeps one
    const rows: { endpoint_id: string; payload: string }[] = await dataSource.query(
      `SELECT endpoint_id, payload FROM webhook_deliveries WHERE event_id = $1 ORDER BY endpoint_id`,
      [event.eventId],
    );
    expect(rows.map((r) => r.endpoint_id).sort()).toEqual([a.id, b.id].sort());
    expect(rows.map((r) => r.endpoint_id)).not.toContain(onlyFailed.id);
    expect(JSON.parse(rows[0]!.payload)).toEqual({
      type: 'email.sent',
      timestamp: event.occurredAt,
      data: {
        emailId: event.emailId,
        status: 'sent',
        eventId: event.eventId,
        attempt: 1,
        messageId: `<${event.emailId}@x>`,
        smtpResponse: '250 ok',
        smtpCode: 250,
        metadata: { order: '42' },
      },
    });
  });

  it('creates the deliveries of a batch of events in one statement, event by event, each once', async () => {
    const both = await webhooks.create(admin, { url: receiver.url, events: ['email.retrying', 'email.failed'] });
    const onlyFailed = await webhooks.create(admin, { url: receiver.url, events: ['email.failed'] });
    const emailId = randomUUID();
    const retrying = statusEvent('email.retrying', emailId);
    const failed = statusEvent('email.failed', emailId);
    const accepted = statusEvent('email.accepted', emailId); // no endpoint subscribed
    await applyEvent(retrying); // applied before: the batch creates nothing for it again

    await expect(applyEvents([failed, accepted, retrying], true)).rejects.toThrow('the status apply failed');
    expect(await deliveriesOf(failed.eventId)).toEqual([]);

    await applyEvents([failed, accepted, retrying]);
    const rows: { endpoint_id: string; event_id: string }[] = await dataSource.query(
      `SELECT endpoint_id, event_id FROM webhook_deliveries WHERE email_id = $1 AND endpoint_id = ANY($2)`,
      [emailId, [both.id, onlyFailed.id]], // endpoints of the other tests get deliveries too
    );
    const key = (r: { endpoint_id: string; event_id: string }): string => `${r.event_id}/${r.endpoint_id}`;
    expect(rows.map(key).sort()).toEqual(
      [
        { event_id: retrying.eventId, endpoint_id: both.id },
        { event_id: failed.eventId, endpoint_id: both.id },
        { event_id: failed.eventId, endpoint_id: onlyFailed.id },
      ]
        .map(key)
        .sort(),
    );
  });

  it('sends the stored body signed with the endpoint secret and records a delivered attempt', async () => {
    const { id, secret } = await newDelivery();
    expect(await delivery.attempt(id)).toEqual({ kind: 'delivered' });
    const [request] = receiver.requests;
    expect(request!.headers['webhook-id']).toBe(`msg_${id}`);
    const [stored] = await dataSource.query(`SELECT payload, status, attempts FROM webhook_deliveries WHERE id = $1`, [id]);
    expect(request!.body).toBe(stored.payload);
    expect(new Webhook(secret).verify(request!.body, request!.headers as Record<string, string>)).toMatchObject({ type: 'email.sent' });
    expect(stored).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(await dataSource.query(`SELECT number, status_code, response_body FROM webhook_attempts WHERE delivery_id = $1`, [id])).toEqual([
      { number: 1, status_code: 200, response_body: 'receiver says hi' },
    ]);
    expect(await delivery.attempt(id)).toEqual({ kind: 'skipped', reason: 'finished' });
  });

  it("waits at least the receiver's Retry-After before the next attempt", async () => {
    const { id } = await newDelivery();
    receiver.answer = { status: 503, headers: { 'retry-after': '120' } };
    const outcome = await delivery.attempt(id);
    expect(outcome).toMatchObject({ kind: 'retry', inMs: 120_000 });
    const [row] = await dataSource.query(
      `SELECT status, extract(epoch FROM next_attempt_at - now()) AS in_seconds, last_error FROM webhook_deliveries WHERE id = $1`,
      [id],
    );
    expect(row.status).toBe('pending');
    expect(Number(row.in_seconds)).toBeGreaterThan(115);
    expect(Number(row.in_seconds)).toBeLessThanOrEqual(120);
    // A copy of the job that runs early does not send: it is told when to look again.
    expect(await delivery.attempt(id)).toMatchObject({ kind: 'not-due' });
    expect(receiver.requests).toHaveLength(1);
  });

  it('fails a delivery once the retry schedule is exhausted, and a replay sends it again with the same webhook-id', async () => {
    const { id, endpointId } = await newDelivery();
    receiver.answer = { status: 500 };
    expect(await delivery.attempt(id)).toMatchObject({ kind: 'retry' });
    await makeDue(id);
    expect(await delivery.attempt(id)).toMatchObject({ kind: 'retry' });
    await makeDue(id);
    expect(await delivery.attempt(id)).toMatchObject({ kind: 'failed', reason: expect.stringContaining('gave up after 3 attempts') });

    receiver.answer = { status: 204 };
    const replayed = await webhooks.replay(admin, endpointId, id);
    expect(replayed).toMatchObject({ status: 'pending', attempts: 3, webhookId: `msg_${id}` });
    expect(await delivery.attempt(id)).toEqual({ kind: 'delivered' });
    expect(receiver.requests.map((r) => r.headers['webhook-id'])).toEqual(Array(4).fill(`msg_${id}`));
    const detail = await webhooks.getDelivery(admin, endpointId, id);
    expect(detail.attemptLog.map((a) => a.statusCode)).toEqual([500, 500, 500, 204]);
    expect(detail.status).toBe('delivered');
  });

  it('disables the endpoint on 410 Gone and pauses its deliveries; re-enabling clears the failure and resumes them', async () => {
    const { id, endpointId } = await newDelivery();
    receiver.answer = { status: 410 };
    expect(await delivery.attempt(id)).toMatchObject({ kind: 'paused' });
    expect(await webhooks.get(admin, endpointId)).toMatchObject({ enabled: false, disabledReason: '410 Gone', disabledAt: expect.any(String) });
    expect(await delivery.attempt(id)).toMatchObject({ kind: 'paused' });
    expect(receiver.requests).toHaveLength(1);

    receiver.answer = { status: 200 };
    expect(await webhooks.update(admin, endpointId, { enabled: true })).toMatchObject({ enabled: true, disabledReason: null, disabledAt: null, failingSince: null });
    expect(await delivery.attempt(id)).toEqual({ kind: 'delivered' });
  });

  it('disables an endpoint that keeps failing past the window, and keeps one that recovers', async () => {
    const { id, endpointId } = await newDelivery();
    receiver.answer = { status: 500 };
    expect(await delivery.attempt(id)).toMatchObject({ kind: 'retry' });
    expect((await webhooks.get(admin, endpointId)).failingSince).not.toBeNull();

    // The streak began longer ago than the window: the next failure disables the endpoint.
    await dataSource.query(`UPDATE webhook_endpoints SET failing_since = now() - interval '61 seconds' WHERE id = $1`, [endpointId]);
    await makeDue(id);
    expect(await delivery.attempt(id)).toMatchObject({ kind: 'paused', reason: expect.stringContaining('failing without a successful delivery since') });
    const endpoint = await webhooks.get(admin, endpointId);
    expect(endpoint).toMatchObject({ enabled: false, disabledReason: expect.stringContaining('failing without a successful delivery') });

    const recovering = await newDelivery();
    receiver.answer = { status: 500 };
    expect(await delivery.attempt(recovering.id)).toMatchObject({ kind: 'retry' });
    receiver.answer = { status: 200 };
    await makeDue(recovering.id);
    expect(await delivery.attempt(recovering.id)).toEqual({ kind: 'delivered' });
    expect(await webhooks.get(admin, recovering.endpointId)).toMatchObject({ enabled: true, failingSince: null });
  });

  it('rebuilds the jobs of due deliveries from PostgreSQL after the Redis keys are gone, and the worker delivers them', async () => {
    const queue = app.get(WebhookQueue);
    queue.onModuleInit();
    const observer = new Queue(WEBHOOK_QUEUE_NAME, { connection: { url: REDIS_URL }, prefix: queuePrefix });
    try {
      const first = await newDelivery();
      const second = await newDelivery(first.endpointId);
      await queue.enqueue(first.id);
      await observer.obliterate({ force: true }); // Redis lost everything of this prefix
      expect(await observer.getJob(first.id)).toBeUndefined();

      expect(await app.get(WebhookJobSweeper).sweep()).toBe(true);
      expect(await observer.getJob(first.id)).toBeDefined();
      expect(await observer.getJob(second.id)).toBeDefined();

      app.get(WebhookWorker).onApplicationBootstrap();
      await waitFor(
        async () => {
          const rows = await dataSource.query(`SELECT status FROM webhook_deliveries WHERE id = ANY($1)`, [[first.id, second.id]]);
          return rows.every((r: { status: string }) => r.status === 'delivered') || undefined;
        },
        { timeoutMs: 15_000, description: 'both rebuilt deliveries delivered' },
      );
      // Earlier tests' pending deliveries to subscribed endpoints were due as well and went too; these two went once each.
      const ids = receiver.requests.map((r) => r.headers['webhook-id']);
      expect(ids.filter((i) => i === `msg_${first.id}` || i === `msg_${second.id}`).sort()).toEqual([`msg_${first.id}`, `msg_${second.id}`].sort());
    } finally {
      await observer.close();
    }
  });

  it('resumes at once, on re-enabling, a paused delivery whose job still waits out an earlier retry delay', async () => {
    // Runs after the rebuild test: the queue and the worker are up.
    const paused = await newDelivery();
    const statusOf = async (): Promise<string | undefined> =>
      ((await dataSource.query(`SELECT status FROM webhook_deliveries WHERE id = $1`, [paused.id])) as { status: string }[])[0]?.status;
    // Delivered here rather than waited for from the worker: only the resumed delivery below is under test.
    await delivery.attempt(paused.id);
    await waitFor(async () => ((await statusOf()) === 'delivered' || undefined), { timeoutMs: 10_000, description: 'the first delivery' });
    // Now the state of a delivery that failed, was given a retry an hour out, and whose endpoint was then disabled.
    await webhooks.update(admin, paused.endpointId, { enabled: false });
    await dataSource.query(`UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now() + interval '1 hour' WHERE id = $1`, [paused.id]);
    const observer = new Queue(WEBHOOK_QUEUE_NAME, { connection: { url: REDIS_URL }, prefix: queuePrefix });
    try {
      await (await observer.getJob(paused.id))?.remove();
      await app.get(WebhookQueue).enqueue(paused.id, 3_600_000);
      expect(await (await observer.getJob(paused.id))?.getState()).toBe('delayed');
      receiver.requests.length = 0;

      await webhooks.update(admin, paused.endpointId, { enabled: true });
      await waitFor(async () => ((await statusOf()) === 'delivered' || undefined), {
        timeoutMs: 10_000,
        description: 'the resumed delivery to go without waiting out its old delay',
      });
      expect(receiver.requests.filter((r) => r.headers['webhook-id'] === `msg_${paused.id}`)).toHaveLength(1);
    } finally {
      await observer.close();
    }
  });

  it('keeps signing with the previous secret during the grace period after a rotation', async () => {
    const { id, endpointId, secret: old } = await newDelivery();
    const { secret } = await webhooks.rotateSecret(admin, endpointId);
    expect(secret).not.toBe(old);
    expect(await delivery.attempt(id)).toEqual({ kind: 'delivered' });
    const request = receiver.requests.find((r) => r.headers['webhook-id'] === `msg_${id}`)!;
    for (const key of [old, secret]) expect(() => new Webhook(key).verify(request.body, request.headers as Record<string, string>)).not.toThrow();
  });

  it('prunes finished deliveries past retention with their attempts, never pending ones', async () => {
    const done = await newDelivery();
    await delivery.attempt(done.id);
    const pending = await newDelivery(done.endpointId);
    await dataSource.query(`UPDATE webhook_deliveries SET updated_at = now() - interval '31 days' WHERE id = ANY($1)`, [[done.id, pending.id]]);
    expect(await app.get(WebhookRetentionService).prune()).toMatchObject({ webhook_deliveries: expect.any(Number) });
    expect(await dataSource.query(`SELECT id FROM webhook_deliveries WHERE id = ANY($1)`, [[done.id, pending.id]])).toEqual([{ id: pending.id }]);
    expect(await dataSource.query(`SELECT 1 FROM webhook_attempts WHERE delivery_id = $1`, [done.id])).toEqual([]);
  });

  it('refuses a URL the SSRF policy refuses, as a field error on url', async () => {
    await expect(webhooks.create(admin, { url: 'http://169.254.169.254/latest/meta-data', events: ['email.sent'] })).rejects.toMatchObject({
      code: 'invalid_input',
      fieldErrors: [{ path: 'url', message: expect.any(String) }],
    });
  });

  it('serves every query of the delivery path and the API from an index', async () => {
    const endpointId = randomUUID();
    const queries = [
      webhookDeliveryQueries.createForEvents([
        { eventId: randomUUID(), emailId: randomUUID(), type: 'email.sent', payload: '{}' },
        { eventId: randomUUID(), emailId: randomUUID(), type: 'email.failed', payload: '{}' },
      ]),
      webhookDeliveryQueries.listByEndpoint(endpointId, { limit: 20 }),
      webhookDeliveryQueries.listByEndpoint(endpointId, { limit: 20, status: 'failed', after: ['1764000000000000', randomUUID()] }),
      webhookDeliveryQueries.listByEmail(randomUUID(), {}, { limit: 50 }),
      webhookDeliveryQueries.listByEmail(randomUUID(), { ownerKeyId: 'k1' }, { limit: 50, after: ['1764000000000000', randomUUID()] }),
      webhookEndpointQueries.list({ ownerKeyId: 'k1' }, { limit: 50, after: ['1764000000000000', randomUUID()] }),
      webhookDeliveryQueries.listDue(500, null),
      webhookDeliveryQueries.replaySince(endpointId, new Date()),
      webhookDeliveryQueries.deleteFinished(86_400_000, 1_000),
    ];
    for (const query of queries) {
      const plan = await explainWithoutSeqScan(url, query);
      expect(plan.join('\n'), query.sql).not.toMatch(/Seq Scan/);
    }
  });
});
