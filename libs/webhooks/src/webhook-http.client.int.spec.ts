import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_ALLOWED_NETWORKS, parseAllowedNetworks } from './webhook-address-policy.js';
import { DESTINATION_NOT_ALLOWED, PLAIN_HTTP_NOT_ALLOWED, maskAddresses, postWebhook, WEBHOOK_USER_AGENT, type PostWebhookInput } from './webhook-http.client.js';
import { generateWebhookSecret, signWebhook, verifyWebhook } from './webhook-signature.js';
import { classifyWebhookResponse } from './webhook-verdict.js';

const LOOPBACK = parseAllowedNetworks('127.0.0.0/8,::1/128');

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real receiver on 127.0.0.1 that records every request it gets. */
class Receiver {
  readonly requests: Received[] = [];
  private server!: Server;
  port = 0;

  constructor(
    private readonly handle: (req: IncomingMessage, res: ServerResponse) => void,
    private readonly bind = '127.0.0.1',
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        this.handle(req, res);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, this.bind, resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path = '/hook', host = '127.0.0.1'): string {
    return `http://${host}:${this.port}${path}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const receivers: Receiver[] = [];
async function receiver(handle: (req: IncomingMessage, res: ServerResponse) => void, bind?: string): Promise<Receiver> {
  const r = await new Receiver(handle, bind).start();
  receivers.push(r);
  return r;
}

afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});

const body = JSON.stringify({
  type: 'email.sent',
  timestamp: '2026-03-01T12:00:00.000Z',
  data: { emailId: '5b1f3c9e-8a47-4d2b-9f61-2c3d4e5f6a7b', status: 'sent', eventId: 'a3c1e2f4-1b2c-4d5e-8f90-112233445566' },
});

function input(url: string, overrides: Partial<PostWebhookInput> = {}): PostWebhookInput {
  return { url, headers: {}, body, timeoutMs: 5000, maxResponseBytes: 4096, allowed: LOOPBACK, ...overrides };
}

describe('postWebhook against a real HTTP server', () => {
  it('POSTs the signed JSON body, which the receiver verifies, and a 2xx is delivered', async () => {
    const secret = generateWebhookSecret();
    const r = await receiver((_req, res) => res.writeHead(204).end());
    const headers = signWebhook({ id: 'msg_1', timestamp: new Date(), body, secrets: [secret] });

    const response = await postWebhook(input(r.url('/hook?tenant=1'), { headers }));

    expect(response).toMatchObject({ kind: 'response', statusCode: 204, body: '' });
    expect(classifyWebhookResponse(response, new Date())).toEqual({ outcome: 'delivered' });
    expect(r.requests).toHaveLength(1);
    const [received] = r.requests;
    expect(received!.path).toBe('/hook?tenant=1');
    expect(received!.headers['content-type']).toBe('application/json');
    expect(received!.headers['user-agent']).toBe(WEBHOOK_USER_AGENT);
    expect(verifyWebhook(received!.body, received!.headers, secret).data.emailId).toBe('5b1f3c9e-8a47-4d2b-9f61-2c3d4e5f6a7b');
  });

  it('returns a 500 with its body and headers, to be retried', async () => {
    const r = await receiver((_req, res) => res.writeHead(500, { 'x-trace': 'abc' }).end('boom'));
    const response = await postWebhook(input(r.url()));
    expect(response).toMatchObject({ kind: 'response', statusCode: 500, body: 'boom', headers: { 'x-trace': 'abc' } });
    expect(classifyWebhookResponse(response, new Date())).toEqual({ outcome: 'retry', reason: 'HTTP 500' });
  });

  it('never follows a redirect: the target is not requested', async () => {
    const r = await receiver((req, res) => {
      if (req.url === '/hook') res.writeHead(307, { location: '/target' }).end();
      else res.writeHead(200).end('reached');
    });
    const response = await postWebhook(input(r.url()));
    expect(response).toMatchObject({ kind: 'response', statusCode: 307 });
    expect(classifyWebhookResponse(response, new Date())).toEqual({ outcome: 'retry', reason: 'HTTP 307 redirect to /target not followed' });
    expect(r.requests.map((q) => q.path)).toEqual(['/hook']);
  });

  it('passes on 429 with Retry-After as the delay the receiver asked for', async () => {
    const r = await receiver((_req, res) => res.writeHead(429, { 'retry-after': '7' }).end());
    const verdict = classifyWebhookResponse(await postWebhook(input(r.url())), new Date());
    expect(verdict).toMatchObject({ outcome: 'retry', retryAfterMs: 7000 });
  });

  it('gives up on a server that never answers after the timeout', async () => {
    await receiver(() => undefined);
    const r = receivers[0]!;
    const response = await postWebhook(input(r.url(), { timeoutMs: 300 }));
    expect(response).toMatchObject({ kind: 'error', error: 'timeout after 300 ms', blocked: false });
    expect(response.latencyMs).toBeGreaterThanOrEqual(290);
    expect(response.latencyMs).toBeLessThan(1500);
    expect(r.requests).toHaveLength(1);
  });

  it('keeps the answer of a response whose body stalls after its headers: a 2xx stays a 2xx, read within the timeout', async () => {
    const r = await receiver((_req, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    const response = await postWebhook(input(r.url(), { timeoutMs: 300 }));
    expect(response).toMatchObject({ kind: 'response', statusCode: 200, body: 'partial' });
    expect(response.latencyMs).toBeGreaterThanOrEqual(290);
    expect(response.latencyMs).toBeLessThan(1500);
  });

  it('keeps the answer of a response whose connection breaks mid-body', async () => {
    const r = await receiver((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('abc');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    expect(await postWebhook(input(r.url(), { timeoutMs: 2_000 }))).toMatchObject({ kind: 'response', statusCode: 200, body: 'abc' });
  });

  it('returns a binary body without NUL characters (PostgreSQL text cannot store them)', async () => {
    const r = await receiver((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x41]));
    });
    const response = await postWebhook(input(r.url()));
    expect(response).toMatchObject({ kind: 'response', statusCode: 200 });
    expect(response.kind === 'response' && response.body.includes('\u0000')).toBe(false);
    expect(response.kind === 'response' && response.body.endsWith('A')).toBe(true);
  });

  it('reads at most maxResponseBytes of a huge body and hangs up on the rest', async () => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    let closed = false;
    const r = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.on('close', () => (closed = true));
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const pump = (): void => {
        while (!closed && written < total) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const response = await postWebhook(input(r.url(), { maxResponseBytes: 1000 }));
    expect(response).toMatchObject({ kind: 'response', statusCode: 200, body: 'a'.repeat(1000) });
    await expect.poll(() => closed).toBe(true);
    expect(written).toBeLessThan(total);
  });

  it('cuts the body on a character boundary', async () => {
    const r = await receiver((_req, res) => res.writeHead(400).end('ééé'));
    expect(await postWebhook(input(r.url(), { maxResponseBytes: 5 }))).toMatchObject({ kind: 'response', body: 'éé' });
  });

  it('reports a refused connection as a network error', async () => {
    const r = await receiver(() => undefined);
    const url = r.url();
    await r.stop();
    receivers.splice(0);
    const response = await postWebhook(input(url));
    expect(response).toMatchObject({ kind: 'error', blocked: false });
    expect(response.kind === 'error' && response.error).toMatch(/^ECONNREFUSED/);
    expect(response.kind === 'error' && response.error).not.toContain('127.0.0.1');
  });

  it('masks every address in an error text, keeping the rest', () => {
    expect(maskAddresses('connect ECONNREFUSED 10.1.2.3:8080')).toBe('connect ECONNREFUSED [address]');
    expect(maskAddresses('connect ETIMEDOUT fd00::5:443 and [2001:db8::1]:80.')).toBe('connect ETIMEDOUT [address] and [address].');
    expect(maskAddresses('HTTP 503, retry after 1000 ms at 12:30')).toBe('HTTP 503, retry after 1000 ms at 12:30');
  });
});

describe('postWebhook SSRF guard', () => {
  it('refuses a private or loopback literal without connecting', async () => {
    const r = await receiver((_req, res) => res.writeHead(200).end());
    const loopback = await postWebhook(input(r.url(), { allowed: NO_ALLOWED_NETWORKS }));
    expect(loopback).toMatchObject({ kind: 'error', blocked: true, error: DESTINATION_NOT_ALLOWED });
    const metadata = await postWebhook(input('http://169.254.169.254/latest/meta-data/', { allowed: LOOPBACK }));
    expect(metadata).toMatchObject({ kind: 'error', blocked: true, error: DESTINATION_NOT_ALLOWED });
    const mapped = await postWebhook(input(`http://[::ffff:7f00:1]:${r.port}/hook`, { allowed: NO_ALLOWED_NETWORKS }));
    expect(mapped).toMatchObject({ kind: 'error', blocked: true });
    expect(r.requests).toHaveLength(0);
  });

  it('reaches an IPv6 literal only when its network is allowed', async () => {
    const r = await receiver((_req, res) => res.writeHead(200).end('v6'), '::1');
    const url = r.url('/hook', '[::1]');
    expect(await postWebhook(input(url, { allowed: parseAllowedNetworks('127.0.0.0/8') }))).toMatchObject({
      kind: 'error',
      blocked: true,
      error: DESTINATION_NOT_ALLOWED,
    });
    expect(await postWebhook(input(url, { allowed: parseAllowedNetworks('::1/128') }))).toMatchObject({ kind: 'response', statusCode: 200, body: 'v6' });
    expect(r.requests).toHaveLength(1);
  });

  it('checks the address after DNS: localhost is refused unless loopback is allowed', async () => {
    const r = await receiver((_req, res) => res.writeHead(200).end('ok'));
    const refused = await postWebhook(input(r.url('/hook', 'localhost'), { allowed: NO_ALLOWED_NETWORKS }));
    expect(refused).toMatchObject({ kind: 'error', blocked: true });
    // The text is stored and shown to the endpoint's owner: it must not tell what the name resolved to.
    expect(refused).toMatchObject({ error: DESTINATION_NOT_ALLOWED });
    expect(refused.kind === 'error' && refused.error).not.toMatch(/127\.0\.0\.1|::1|loopback|localhost/);
    expect(r.requests).toHaveLength(0);

    const delivered = await postWebhook(input(r.url('/hook', 'localhost'), { allowed: LOOPBACK }));
    expect(delivered).toMatchObject({ kind: 'response', statusCode: 200, body: 'ok' });
    expect(r.requests).toHaveLength(1);
  });

  it('connects only to addresses it checked: a name that resolves to a public and a private address is refused', async () => {
    const r = await receiver((_req, res) => res.writeHead(200).end('ok'));
    const resolveTo = (...addresses: string[]) => async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

    const allowedName = await postWebhook(input(r.url('/hook', 'hooks.example.test'), { allowed: LOOPBACK, resolve: resolveTo('127.0.0.1') }));
    expect(allowedName).toMatchObject({ kind: 'response', statusCode: 200 });
    expect(r.requests[0]!.headers.host).toBe(`hooks.example.test:${r.port}`);

    const rebound = await postWebhook(
      input(r.url('/hook', 'hooks.example.test'), { allowed: parseAllowedNetworks('10.0.0.0/8'), resolve: resolveTo('93.184.215.14', '127.0.0.1') }),
    );
    expect(rebound).toMatchObject({ kind: 'error', blocked: true, error: DESTINATION_NOT_ALLOWED });
    expect(classifyWebhookResponse(rebound, new Date())).toMatchObject({ outcome: 'retry' });
    expect(r.requests).toHaveLength(1);
  });

  it('sends plain http only to hosts inside the allowed networks, checked again after DNS', async () => {
    const r = await receiver((_req, res) => res.writeHead(200).end('ok'));
    const resolveTo = (address: string) => async () => [{ address, family: 4 }];
    const publicName = await postWebhook(input(r.url('/hook', 'hooks.example.test'), { allowed: LOOPBACK, resolve: resolveTo('93.184.215.14') }));
    expect(publicName).toMatchObject({ kind: 'error', blocked: true, error: PLAIN_HTTP_NOT_ALLOWED });
    expect(await postWebhook(input('http://93.184.215.14/hook', { allowed: LOOPBACK }))).toMatchObject({ error: PLAIN_HTTP_NOT_ALLOWED });
    expect(r.requests).toHaveLength(0);
  });

  it('reports a name that does not resolve as a network error, not a refusal', async () => {
    const response = await postWebhook(
      input('http://missing.example.test/hook', {
        resolve: async () => {
          throw Object.assign(new Error('getaddrinfo ENOTFOUND missing.example.test'), { code: 'ENOTFOUND' });
        },
      }),
    );
    expect(response).toMatchObject({ kind: 'error', blocked: false, error: 'ENOTFOUND' });
  });
});
