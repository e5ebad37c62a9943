import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@app/testing';
import { EmailLoopStack } from './stack.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');

/** `npm run keys -- …` as an operator runs it, with the app's database URL in the environment. */
async function keysCli(args: string[], env: Record<string, string>): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run('npm', ['run', '-s', 'keys', '--', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe('API keys on the built apps', () => {
  const stack = new EmailLoopStack();

  beforeAll(async () => {
    await stack.start({ businessEnv: { MAIL_SENDER_DOMAINS: 'shop.example,other.example' }, mailerEnv: { MAIL_SENDER_DOMAINS: 'shop.example,other.example' } });
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('refuses /v1 without a key on both apps (401, WWW-Authenticate), and serves health without one', async () => {
    for (const url of [`${stack.businessUrl}/v1/emails/7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d`, `${stack.mailerUrl}/v1/suppressions`, `${stack.mailerUrl}/v1/unconfirmed`]) {
      const res = await fetch(url);
      expect(res.status, url).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
    const wrongKey = await fetch(`${stack.mailerUrl}/v1/suppressions`, { headers: stack.authHeaders('business') });
    expect(wrongKey.status).toBe(401); // each app has its own keys
    for (const url of [`${stack.businessUrl}/health`, `${stack.mailerUrl}/health`]) expect((await fetch(url)).status).toBe(200);
    expect((await fetch(`${stack.mailerUrl}/v1/suppressions`, { headers: stack.authHeaders('mailer') })).status).toBe(200);
  });

  it('creates a key with the CLI that the app accepts, lists it without its secret, and revokes it', async () => {
    const env = { BUSINESS_DATABASE_URL: stack.businessDatabaseUrl };
    const created = await keysCli(['create', '--app', 'business', '--name', 'ci', '--scopes', 'emails:send,emails:read', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    const auth = { authorization: `Bearer ${key}` };

    const sent = await fetch(`${stack.businessUrl}/v1/emails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ to: 'cli-key@example.test', subject: 'cli', text: 'x' }),
    });
    expect(sent.status).toBe(202);
    const emailId = ((await sent.json()) as { id: string }).id;
    const templates = await fetch(`${stack.businessUrl}/v1/templates`, { headers: auth });
    expect(templates.status).toBe(403);
    expect(await templates.json()).toMatchObject({ error: { code: 'missing_scope', details: { scope: 'templates:read' } } });

    const listed = await keysCli(['list', '--app', 'business'], env);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).not.toContain(key);

    const revoked = await keysCli(['revoke', id, '--app', 'business'], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    // Another process revoked it: the app's cache forgets it within 5 s.
    await waitFor(async () => (await fetch(`${stack.businessUrl}/v1/emails/${emailId}`, { headers: auth })).status === 401, {
      timeoutMs: 10_000,
      intervalMs: 250,
      description: 'the revoked key to be refused',
    });

    const bad = await keysCli(['create', '--app', 'business', '--name', 'x', '--scopes', 'emails:send,root'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--scopes');
  });

  it('limits a key with sender domains to a from at them (403 naming the domain)', async () => {
    const created = await stack.post('/v1/api-keys', { name: 'shop', scopes: ['emails:send'], senderDomains: ['shop.example'] });
    expect(created.status).toBe(201);
    const headers = { authorization: `Bearer ${created.body.key}` };
    const send = (from?: string) => stack.post('/v1/emails', { to: 'domain@example.test', subject: 's', text: 'x', ...(from && { from }) }, headers);
    expect((await send('news@shop.example')).status).toBe(202);
    const other = await send('news@other.example');
    expect(other.status).toBe(403);
    expect(other.body.error).toMatchObject({ code: 'sender_domain_not_allowed', details: { domain: 'other.example' } });
    expect((await send()).status).toBe(403);
    // The bootstrap key has no such limit.
    expect((await stack.post('/v1/emails', { to: 'domain@example.test', subject: 's', text: 'x', from: 'news@other.example' })).status).toBe(202);
  });
});
