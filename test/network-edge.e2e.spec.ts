import { randomUUID } from 'node:crypto';
import { request as httpRequest, Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsubscribeTokens } from '../libs/email/src/unsubscribe/unsubscribe-tokens.js';
import { EmailLoopStack, freePort } from './stack.js';

const UNSUBSCRIBE_SECRET = 'e2e-network-edge-secret-0123456789abcdef';
const ALLOWED_ORIGIN = 'https://console.example.test';

function jsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** A request through fetch, its body read as text and, when it is JSON, parsed. */
async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const res = await fetch(url, { method: init.method ?? 'GET', headers: init.headers, body: init.body, redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: jsonOrNull(text) };
}

/** A request whose path goes out exactly as written (fetch would resolve `..` and the like first). */
function rawCall(base: string, method: string, path: string, body?: string): Promise<{ status: number; headers: Record<string, unknown>; json: any }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method, path, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json: jsonOrNull(Buffer.concat(chunks).toString('utf8')) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the network edge: public listener, bind address, security headers, CORS', () => {
  const stack = new EmailLoopStack();
  const tokens = new UnsubscribeTokens([UNSUBSCRIBE_SECRET]);
  let publicUrl = '';

  beforeAll(async () => {
    const publicPort = await freePort();
    publicUrl = `http://127.0.0.1:${publicPort}`;
    await stack.start({
      businessEnv: {
        PUBLIC_PORT: String(publicPort),
        PUBLIC_HOST: '127.0.0.1',
        UNSUBSCRIBE_BASE_URL: 'https://mail.example.test',
        UNSUBSCRIBE_SECRET,
        CORS_ORIGINS: `${ALLOWED_ORIGIN},http://localhost:5173`,
      },
    });
  });

  afterAll(async () => {
    // A client holding a kept-alive connection to the public port must not hold up the shutdown.
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      httpRequest(`${publicUrl}/v1/unsubscribe/not-a-token`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      })
        .on('error', reject)
        .end();
    });
    const started = Date.now();
    const codes = await stack.stop();
    agent.destroy();
    expect(codes).toEqual({ business: 0, mailer: 0 });
    expect(Date.now() - started).toBeLessThan(20_000);
    await expect(fetch(`${publicUrl}/v1/unsubscribe/x`)).rejects.toThrow();
  });

  describe('public port', () => {
    it('serves the unsubscribe confirmation page, with its own CSP (inline style, a form posting to itself) and helmet headers', async () => {
      const token = tokens.sign({ emailId: randomUUID(), address: 'ada@example.com', category: 'newsletter' });
      const res = await call(`${publicUrl}/v1/unsubscribe/${token}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.text).toContain('<form method="post">');
      expect(res.text).toContain('ada@example.com');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("form-action 'self'");
      expect(csp).toContain("style-src 'unsafe-inline'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(res.headers.get('x-powered-by')).toBeNull();
    });

    it('takes the one-click POST', async () => {
      const token = tokens.sign({ emailId: randomUUID(), address: 'bob@example.com', category: 'newsletter' });
      const res = await call(`${publicUrl}/v1/unsubscribe/${token}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ status: 'unsubscribed', category: 'newsletter' });
    });

    it('routes a bad token to the unsubscribe controller (its own 404), not to the gate', async () => {
      const res = await call(`${publicUrl}/v1/unsubscribe/not-a-token`, { method: 'POST' });
      expect(res.status).toBe(404);
      expect(res.json.error.code).toBe('unsubscribe_link_invalid');
    });

    it('answers 404 not_found for everything else, health included, with the security headers', async () => {
      const emailBody = JSON.stringify({ to: 'x@example.com', subject: 's', text: 't' });
      const attempts: [string, string, string?][] = [
        ['GET', '/health'],
        ['GET', '/health/ready'],
        ['GET', '/v1/emails/00000000-0000-4000-8000-000000000000'],
        ['POST', '/v1/emails', emailBody],
        ['GET', '/v1/webhooks'],
        ['GET', '/v1/templates'],
        ['GET', '/'],
        ['GET', '/v1/unsubscribe'],
        ['GET', '/V1/UNSUBSCRIBE/x'],
        ['GET', '/v1/unsubscribe/../emails/00000000-0000-4000-8000-000000000000'],
        ['GET', '/v1/unsubscribe/%2e%2e/emails/00000000-0000-4000-8000-000000000000'],
        ['GET', '/v1/unsubscribe/x%2F..%2F..%2Fhealth'],
        ['GET', '/v1/unsubscribe/..'],
        ['GET', '//v1/emails'],
        ['GET', 'http://127.0.0.1/v1/emails/00000000-0000-4000-8000-000000000000'],
        ['POST', '/v1/Unsubscribe/x'],
      ];
      for (const [method, path, body] of attempts) {
        const res = await rawCall(publicUrl, method, path, body);
        expect({ method, path, status: res.status, body: res.json }).toEqual({
          method,
          path,
          status: 404,
          body: { error: { code: 'not_found', message: 'not found' } },
        });
        expect(res.headers['x-content-type-options']).toBe('nosniff');
      }
      // No email was accepted through the public port.
      expect((await stack.get('/v1/emails/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    });

    it('answers a CORS preflight for a private path with the same 404, even from an allowed origin', async () => {
      const res = await call(`${publicUrl}/v1/emails`, {
        method: 'OPTIONS',
        headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      });
      expect(res.status).toBe(404);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  describe('main port', () => {
    it('serves everything as before, the unsubscribe routes included (single-port deployments)', async () => {
      const health = await call(`${stack.businessUrl}/health`);
      expect(health.status).toBe(200);
      expect(health.json.status).toBe('ok');
      const token = tokens.sign({ emailId: randomUUID(), address: 'cy@example.com' });
      const page = await call(`${stack.businessUrl}/v1/unsubscribe/${token}`);
      expect(page.status).toBe(200);
      expect(page.text).toContain('cy@example.com');
      const unknown = await call(`${stack.businessUrl}/v1/nothing-here`);
      expect(unknown.status).toBe(404);
      expect(unknown.json.error.code).toBe('not_found');
    });

    it('sends helmet headers with a JSON API CSP on both apps', async () => {
      for (const url of [`${stack.businessUrl}/health`, `${stack.mailerUrl}/health`]) {
        const res = await call(url);
        expect(res.status, url).toBe(200);
        expect(res.headers.get('content-security-policy'), url).toBe("default-src 'none';frame-ancestors 'none'");
        expect(res.headers.get('x-content-type-options'), url).toBe('nosniff');
        expect(res.headers.get('x-frame-options'), url).toBe('SAMEORIGIN');
        expect(res.headers.get('referrer-policy'), url).toBe('no-referrer');
        expect(res.headers.get('x-powered-by'), url).toBeNull();
      }
    });

    it('/health shows states and counts, no addresses', async () => {
      const res = await call(`${stack.businessUrl}/health`);
      expect(res.text).not.toContain('127.0.0.1');
      expect(res.text).not.toContain(stack.id);
      for (const entry of Object.values(res.json.dependencies as Record<string, Record<string, unknown>>)) {
        // A dependency still connecting right after start is `down` with the one fixed reason word.
        for (const [key, value] of Object.entries(entry)) {
          expect(key === 'status' || (key === 'reason' && value === 'unavailable') || typeof value === 'number', `${key}: ${JSON.stringify(value)}`).toBe(true);
        }
      }
    });
  });

  describe('CORS', () => {
    const preflight = (base: string, origin: string) =>
      call(`${base}/v1/emails`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });

    it('allows a configured origin, with Authorization', async () => {
      const res = await preflight(stack.businessUrl, ALLOWED_ORIGIN);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      const get = await call(`${stack.businessUrl}/health`, { headers: { origin: ALLOWED_ORIGIN } });
      expect(get.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    });

    it('refuses any other origin', async () => {
      const res = await preflight(stack.businessUrl, 'https://evil.example.test');
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      const get = await call(`${stack.businessUrl}/health`, { headers: { origin: 'https://evil.example.test' } });
      expect(get.headers.get('access-control-allow-origin')).toBeNull();
    });

    it('is off where CORS_ORIGINS is unset (the mailer here)', async () => {
      const res = await preflight(stack.mailerUrl, ALLOWED_ORIGIN);
      expect(res.status).toBe(404);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('access-control-allow-methods')).toBeNull();
    });
  });

  it('logs the real bind address at start-up', async () => {
    const { readFileSync } = await import('node:fs');
    const log = readFileSync(stack.business!.logFile, 'utf8');
    expect(log).toContain(`business listening on ${stack.businessUrl}`);
    expect(log).toContain(`business public listener on ${publicUrl} (only /v1/unsubscribe/)`);
    expect(readFileSync(stack.mailer!.logFile, 'utf8')).toContain(`mailer listening on ${stack.mailerUrl} (health: /health)`);
  });
});
