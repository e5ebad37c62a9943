import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { waitFor } from '@app/testing';
import { EmailLoopStack, freePort } from './stack.js';

const EMAIL_COUNT = 20;
const BOUNCES = 4;
/** Short retries (about 8 s in all with jitter), so an outage shorter than that is retried through and a dead receiver fails fast. */
const RETRY_SCHEDULE_MS = '200,400,800,1000,1000,1000,1000,1000';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
  at: number;
}

/**
 * A webhook receiver on a fixed loopback port: `down` closes the port, otherwise it answers every
 * request with `status` and records it.
 */
class Receiver {
  readonly received: Received[] = [];
  status = 200;
  private server?: Server;

  constructor(readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/webhooks/email`;
  }

  async up(status: number): Promise<void> {
    this.status = status;
    if (this.server) return;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered: this.status, at: Date.now() });
        res.writeHead(this.status).end();
      });
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    server?.closeAllConnections();
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  /** Requests answered with a 2xx, by webhook-id. */
  delivered(): Map<string, Received[]> {
    const byId = new Map<string, Received[]>();
    for (const r of this.received.filter((x) => x.answered < 300)) {
      const id = String(r.headers['webhook-id']);
      byId.set(id, [...(byId.get(id) ?? []), r]);
    }
    return byId;
  }
}

describe('webhooks, end to end: signed, retried through an outage, each event once per webhook-id', () => {
  const stack = new EmailLoopStack();
  let main: Receiver;
  let gone: Receiver;
  let dead: Receiver;

  beforeAll(async () => {
    [main, gone, dead] = [new Receiver(await freePort()), new Receiver(await freePort()), new Receiver(await freePort())];
    await stack.start({
      businessEnv: {
        WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8',
        WEBHOOK_RETRY_SCHEDULE_MS: RETRY_SCHEDULE_MS,
        WEBHOOK_DISABLE_AFTER_MS: '600000',
        WEBHOOK_SWEEP_INTERVAL_MS: '1000',
        WEBHOOK_TIMEOUT_MS: '2000',
      },
    });
    stack.smtp.refuseRecipients((address) => (address.startsWith('bounce') ? { code: 550, message: '5.1.1 no such user' } : null));
  });

  afterAll(async () => {
    await Promise.all([main?.down(), gone?.down(), dead?.down()]);
    const codes = await stack.stop();
    expect(codes).toEqual({ business: 0, mailer: 0 });
  });

  const verify = (secret: string, r: Received): unknown => new Webhook(secret).verify(r.body, r.headers as Record<string, string>);

  it('refuses a link-local URL at registration with a field error on url', async () => {
    const res = await stack.post('/v1/webhooks', { url: 'http://169.254.169.254/latest/meta-data', events: ['email.sent'] });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([{ path: 'url', message: expect.any(String) }]);
    expect((await stack.post('/v1/webhooks', { url: main.url, events: [] })).status).toBe(400);
    // Never emitted, so not subscribable (docs/guarantees/holes.md).
    expect((await stack.post('/v1/webhooks', { url: main.url, events: ['email.sending'] })).status).toBe(400);
    // PostgreSQL text cannot store NUL: a clear 400, not a 500 from the database.
    const nul = await stack.post('/v1/webhooks', { url: main.url, events: ['email.sent'], description: 'a\u0000b' });
    expect(nul.status).toBe(400);
    expect(nul.body.error.fields).toEqual([{ path: 'description', message: 'contains a NUL character' }]);
    expect((await stack.get('/v1/webhooks')).body.items.filter((e: { description?: string }) => e.description === 'a\u0000b')).toEqual([]);
  });

  it(`delivers every email.sent and email.failed of ${EMAIL_COUNT} emails once, through a receiver down then failing then back`, async () => {
    const created = await stack.post('/v1/webhooks', { url: main.url, events: ['email.sent', 'email.failed'], description: 'main' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: main.url, enabled: true, secret: expect.stringMatching(/^whsec_/) });
    const { id: endpointId, secret } = created.body as { id: string; secret: string };
    expect((await stack.get(`/v1/webhooks/${endpointId}`)).body).not.toHaveProperty('secret');

    // The receiver is down (port closed) while the emails go out.
    const emails = new Map<string, { to: string; order: string }>();
    for (let i = 0; i < EMAIL_COUNT; i++) {
      const to = i < BOUNCES ? `bounce${i}@example.test` : `user${i}@example.test`;
      const res = await stack.post('/v1/emails', { to, subject: `Hello ${i}`, text: 'Hi', metadata: { order: String(i) } });
      expect(res.status).toBe(202);
      emails.set(res.body.id, { to, order: String(i) });
    }
    await new Promise((r) => setTimeout(r, 2_000));
    await main.up(500);
    await new Promise((r) => setTimeout(r, 2_000));
    main.status = 200;

    const delivered = await waitFor(() => (main.delivered().size >= EMAIL_COUNT ? main.delivered() : undefined), {
      timeoutMs: 60_000,
      description: `${EMAIL_COUNT} webhooks answered 2xx`,
    });
    await new Promise((r) => setTimeout(r, 2_000)); // room for a repeat that should not come
    expect(main.received.some((r) => r.answered === 500)).toBe(true);

    const byEmail = new Map<string, string[]>();
    for (const [webhookId, requests] of main.delivered()) {
      expect(requests, `repeats of ${webhookId} after a 2xx`).toHaveLength(1);
      const request = requests[0]!;
      // No request of this webhook-id came after the one that was answered 2xx.
      expect(main.received.filter((r) => r.headers['webhook-id'] === webhookId && r.at > request.at)).toEqual([]);
      const event = verify(secret, request) as { type: string; data: { emailId: string; status: string; metadata: Record<string, string>; eventId: string } };
      const email = emails.get(event.data.emailId);
      expect(email, 'a webhook about one of our emails').toBeDefined();
      expect(event.data.metadata).toEqual({ order: email!.order });
      expect(event.data.status).toBe(event.type === 'email.sent' ? 'sent' : 'failed');
      expect(event.type).toBe(email!.to.startsWith('bounce') ? 'email.failed' : 'email.sent');
      byEmail.set(event.data.emailId, [...(byEmail.get(event.data.emailId) ?? []), event.type]);
    }
    expect(delivered.size).toBe(EMAIL_COUNT);
    expect(byEmail.size).toBe(EMAIL_COUNT);

    // The history: each delivery delivered, its attempts listed; per email too.
    const list = await stack.get(`/v1/webhooks/${endpointId}/deliveries?limit=100`);
    expect(list.body.items).toHaveLength(EMAIL_COUNT);
    expect(list.body.items.every((d: { status: string }) => d.status === 'delivered')).toBe(true);
    const retried = list.body.items.find((d: { attempts: number }) => d.attempts > 1);
    const detail = await stack.get(`/v1/webhooks/${endpointId}/deliveries/${retried.id}`);
    expect(detail.body.attemptLog.at(-1)).toMatchObject({ statusCode: 200 });
    expect(detail.body.attemptLog.length).toBe(retried.attempts);
    const [someEmail] = emails.keys();
    expect((await stack.get(`/v1/emails/${someEmail}/webhook-deliveries`)).body.items).toEqual([
      expect.objectContaining({ endpointId, emailId: someEmail, status: 'delivered' }),
    ]);

    // After a rotation, deliveries verify with the new secret and, during the grace period, the old one.
    const rotated = await stack.post(`/v1/webhooks/${endpointId}/rotate-secret`, {});
    expect(rotated.status).toBe(201);
    const newSecret = rotated.body.secret as string;
    expect(newSecret).not.toBe(secret);
    const after = await stack.post('/v1/emails', { to: 'late@example.test', subject: 'after rotation', text: 'Hi' });
    const request = await waitFor(() =>
      main.received.find((r) => r.answered < 300 && JSON.parse(r.body).data.emailId === after.body.id),
    );
    expect(verify(newSecret, request)).toMatchObject({ type: 'email.sent' });
    expect(verify(secret, request)).toMatchObject({ type: 'email.sent' });
  });

  it('disables an endpoint that answers 410 Gone, visibly', async () => {
    await gone.up(410);
    const created = await stack.post('/v1/webhooks', { url: gone.url, events: ['email.sent'] });
    await stack.post('/v1/emails', { to: 'gone@example.test', subject: 'to a gone receiver', text: 'Hi' });
    const endpoint = await waitFor(async () => {
      const res = await stack.get(`/v1/webhooks/${created.body.id}`);
      return res.body.enabled === false ? res.body : undefined;
    });
    expect(endpoint).toMatchObject({ enabled: false, disabledReason: '410 Gone', disabledAt: expect.any(String) });
    expect(gone.received).toHaveLength(1);
  });

  it('fails a delivery once the schedule is exhausted; a replay arrives with the same webhook-id', async () => {
    await dead.up(500);
    const created = await stack.post('/v1/webhooks', { url: dead.url, events: ['email.sent'] });
    const endpointId = created.body.id as string;
    const email = await stack.post('/v1/emails', { to: 'dead@example.test', subject: 'to a failing receiver', text: 'Hi' });
    const failed = await waitFor(
      async () => {
        const res = await stack.get(`/v1/webhooks/${endpointId}/deliveries?status=failed`);
        return res.body.items.find((d: { emailId: string }) => d.emailId === email.body.id);
      },
      { timeoutMs: 30_000, description: 'the delivery to fail' },
    );
    const attemptsBefore = dead.received.length;
    expect(attemptsBefore).toBe(RETRY_SCHEDULE_MS.split(',').length + 1);

    dead.status = 200;
    const replayed = await stack.post(`/v1/webhooks/${endpointId}/deliveries/${failed.id}/replay`, {});
    expect(replayed.status).toBe(202);
    expect(replayed.body).toMatchObject({ status: 'pending', webhookId: failed.webhookId });
    await waitFor(() => dead.delivered().size === 1 || undefined, { description: 'the replay to arrive' });
    const ids = dead.received.map((r) => r.headers['webhook-id']);
    expect(new Set(ids)).toEqual(new Set([`msg_${failed.id}`]));
    expect((await stack.get(`/v1/webhooks/${endpointId}/deliveries/${failed.id}`)).body).toMatchObject({
      status: 'delivered',
      attempts: attemptsBefore + 1,
    });

    // Nothing failed since then: a bulk replay finds nothing to do.
    expect((await stack.post(`/v1/webhooks/${endpointId}/replay`, { since: new Date(0).toISOString() })).body).toEqual({ replayed: 0 });
  });
});
