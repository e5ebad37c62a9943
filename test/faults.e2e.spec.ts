import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync, mkdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { waitFor } from '@app/testing';
import { EmailLoopStack, REDIS_URL } from './stack.js';

const LOAD = Number(process.env.FAULT_EMAIL_COUNT ?? 400);
const SEND_CONCURRENCY = 20; // the mailer's default SEND_CONCURRENCY_TRANSACTIONAL

interface ScenarioResult {
  scenario: string;
  requested: number;
  sent: number;
  duplicated: number;
  lost: number;
  kills: number;
}

const results: ScenarioResult[] = [];

/**
 * Sends `LOAD` emails with distinct recipients while `fault` runs, then waits until every email
 * is reported final and counts what the SMTP server received.
 */
async function runScenario(
  stack: EmailLoopStack,
  scenario: string,
  fault: (progress: { accepted: () => number }) => Promise<{ kills: number }>,
): Promise<ScenarioResult> {
  const ids: string[] = [];
  const recipients = Array.from({ length: LOAD }, (_, i) => `${scenario}-${i}@example.test`);
  const load = (async () => {
    for (let i = 0; i < recipients.length; i += 20) {
      const batch = recipients.slice(i, i + 20);
      const responses = await Promise.all(batch.map((to) => postUntilAccepted(stack, { to, subject: scenario, text: 'x' }, `${scenario}-${to}`)));
      ids.push(...responses);
    }
  })();
  const { kills } = await fault({ accepted: () => ids.length });
  await load;

  const finals = await waitFor(
    async () => {
      const views = await Promise.all(ids.map((id) => stack.get(`/v1/emails/${id}`)));
      return views.every((v) => ['sent', 'failed'].includes(v.body?.status)) ? views.map((v) => v.body) : undefined;
    },
    { timeoutMs: 150_000, intervalMs: 1_000, description: `every ${scenario} email to reach a final status` },
  );
  const counts = stack.smtp.countByRecipient();
  const result: ScenarioResult = {
    scenario,
    requested: LOAD,
    sent: recipients.filter((r) => (counts.get(r) ?? 0) >= 1).length,
    duplicated: recipients.reduce((n, r) => n + Math.max(0, (counts.get(r) ?? 0) - 1), 0),
    lost: recipients.filter((r) => !counts.has(r)).length,
    kills,
  };
  results.push(result);
  console.log(`[faults] ${JSON.stringify(result)}`);
  expect(ids).toHaveLength(LOAD);
  expect(new Set(ids).size).toBe(LOAD); // idempotency keys made client retries safe
  expect(finals.every((f) => f.status === 'sent')).toBe(true);
  expect(result.lost).toBe(0);
  // A duplicate is allowed only for an email in flight at a SIGKILL: each email at most once
  // more per kill, and no more emails than could be in flight (the send concurrency) per kill.
  expect(Math.max(...recipients.map((r) => counts.get(r) ?? 0))).toBeLessThanOrEqual(1 + kills);
  expect(result.duplicated).toBeLessThanOrEqual(kills * SEND_CONCURRENCY);
  return result;
}

/** A client that retries until the business app answers, as a real client would during a restart. */
async function postUntilAccepted(stack: EmailLoopStack, body: unknown, idempotencyKey: string): Promise<string> {
  return waitFor(
    async () => {
      const res = await stack.post('/v1/emails', body, { 'Idempotency-Key': idempotencyKey });
      return res.status === 202 ? (res.body.id as string) : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250, description: 'the business app to accept a request' },
  );
}

const whenAccepted = (progress: { accepted: () => number }, n: number) =>
  waitFor(() => progress.accepted() >= n || undefined, { timeoutMs: 60_000, description: `${n} accepted requests` });

describe('fault suite: nothing lost, nothing sent twice', () => {
  let stack: EmailLoopStack | undefined;

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
    mkdirSync('test-output', { recursive: true });
    writeFileSync('test-output/fault-results.json', JSON.stringify(results, null, 2));
  });

  /** Starts a fresh stack for one scenario (stopped in afterEach) and runs the scenario on it. */
  async function scenario(
    name: string,
    fault: (s: EmailLoopStack, progress: { accepted: () => number }) => Promise<{ kills: number }>,
    mailerEnv: Record<string, string> = {},
  ): Promise<void> {
    const s = new EmailLoopStack();
    stack = s;
    await s.start(mailerEnv);
    await runScenario(s, name, (progress) => fault(s, progress));
  }

  it('SIGKILL the mailer mid-stream, restart it', () =>
    scenario('kill-mailer', async (s, progress) => {
      await whenAccepted(progress, LOAD / 4);
      await waitFor(() => s.smtp.mails.length > 20 || undefined, { description: 'sending to be under way' });
      await s.mailer!.stop('SIGKILL');
      await s.mailer!.start();
      return { kills: 1 };
    }));

  it('SIGKILL the business app (its relay) mid-stream, restart it', () =>
    scenario('kill-business', async (s, progress) => {
      await whenAccepted(progress, LOAD / 3);
      await s.business!.stop('SIGKILL');
      await s.business!.start();
      return { kills: 0 }; // killing business cannot duplicate an SMTP hand-off
    }));

  it('wipe Redis (FLUSHALL) mid-stream', () =>
    scenario(
      'flush-redis',
      async (s, progress) => {
        await whenAccepted(progress, LOAD / 3);
        const redis = new Redis(REDIS_URL);
        // Only this test's keys: other suites may share the Redis server.
        const keys = await redis.keys(`${s.id}:*`);
        if (keys.length > 0) await redis.del(...keys);
        await redis.quit();
        return { kills: 0 };
      },
      { SWEEP_INTERVAL_MS: '2000' },
    ));

  it('SMTP answers 421 for a while, then recovers', () =>
    scenario('smtp-421', async (s, progress) => {
      await whenAccepted(progress, LOAD / 4);
      s.smtp.refuseRecipients(() => ({ code: 421, message: 'Service not available, try again later' }));
      await new Promise((r) => setTimeout(r, 3_000));
      s.smtp.refuseRecipients(() => null);
      return { kills: 0 };
    }));

  it('SIGTERM both apps mid-stream and restart them', () =>
    scenario('sigterm-both', async (s, progress) => {
      await whenAccepted(progress, LOAD / 3);
      const codes = await Promise.all([s.business!.stop('SIGTERM'), s.mailer!.stop('SIGTERM')]);
      expect(codes).toEqual([0, 0]);
      await Promise.all([s.business!.start(), s.mailer!.start()]);
      return { kills: 0 };
    }));
});
