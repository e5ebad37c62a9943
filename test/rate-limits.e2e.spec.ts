import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@app/testing';
import { EmailLoopStack } from './stack.js';

const GLOBAL_PER_SECOND = 10;
const SLOW_DOMAIN_PER_SECOND = 2;

/**
 * Send rates on two mailer instances that share one budget in Redis, counted where it matters:
 * at the SMTP server. The counters are fixed one-second windows, so any second may see up to two
 * windows' worth, and n emails take at least (n / rate − 1) seconds from the first to the last.
 */
describe('rate limits, end to end on two mailer instances', () => {
  const stack = new EmailLoopStack();

  beforeAll(async () => {
    await stack.start({
      mailerInstances: 2,
      mailerEnv: { RATE_LIMIT_GLOBAL: `${GLOBAL_PER_SECOND}/s`, RATE_LIMIT_DOMAINS: `slow.example:${SLOW_DOMAIN_PER_SECOND}/s` },
    });
  });

  afterAll(async () => {
    await stack.stop();
  });

  /** Posts one email per recipient, all at once; resolves with the ids. */
  async function postAll(recipients: string[]): Promise<string[]> {
    const responses = await Promise.all(recipients.map((to) => stack.post('/v1/emails', { to, subject: 'Rate', text: 'x' })));
    for (const res of responses) expect(res.status).toBe(202);
    return responses.map((res) => res.body.id as string);
  }

  /** Arrival times at the SMTP server of the mails to these recipients, sorted, once all arrived. */
  async function arrivals(recipients: string[]): Promise<number[]> {
    const wanted = new Set(recipients);
    const times = await waitFor(
      () => {
        const got = stack.smtp.mails.filter((m) => m.recipients.some((r) => wanted.has(r)));
        return got.length >= recipients.length ? got.map((m) => m.receivedAt.getTime()) : undefined;
      },
      { timeoutMs: 60_000, description: `${recipients.length} mails at the SMTP server` },
    );
    return times.sort((a, b) => a - b);
  }

  /** Every email sent on its first attempt: waiting for the rate is neither an attempt nor a failure. */
  async function expectSentOnFirstAttempt(ids: string[]): Promise<void> {
    for (const id of ids) {
      const view = await waitFor(
        async () => {
          const v = await stack.get(`/v1/emails/${id}`);
          return v.body?.status === 'sent' ? v.body : undefined;
        },
        { timeoutMs: 30_000, description: `email ${id} sent` },
      );
      const types = (view.events as { type: string; detail: { attempt?: number } }[]).filter((e) => e.type !== 'email.accepted');
      expect(types.map((e) => e.type)).toEqual(['email.sent']);
      expect(types[0]?.detail.attempt).toBe(1);
    }
  }

  /** The most mails in any window of `ms` starting at an arrival. */
  function busiestWindow(times: number[], ms: number): number {
    let most = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (j < times.length && times[j]! < times[i]! + ms) j++;
      most = Math.max(most, j - i);
    }
    return most;
  }

  it('keeps both instances together under the global rate, and nothing fails', async () => {
    const count = 60;
    const recipients = Array.from({ length: count }, (_, i) => `user${i}@fast.example`);
    const ids = await postAll(recipients);
    const times = await arrivals(recipients);
    const spanMs = times.at(-1)! - times[0]!;
    console.log(`global ${GLOBAL_PER_SECOND}/s, 2 instances: ${count} mails in ${spanMs} ms, busiest second ${busiestWindow(times, 1_000)}`);
    expect(spanMs).toBeGreaterThanOrEqual((count / GLOBAL_PER_SECOND - 1) * 1_000);
    expect(busiestWindow(times, 1_000)).toBeLessThanOrEqual(2 * GLOBAL_PER_SECOND);
    await expectSentOnFirstAttempt(ids);
  });

  it('slows a limited domain while another domain goes at the global rate, and nothing fails', async () => {
    const slow = Array.from({ length: 20 }, (_, i) => `user${i}@slow.example`);
    const fast = Array.from({ length: 10 }, (_, i) => `other${i}@fast.example`);
    const ids = await postAll([...slow, ...fast]);
    const [slowTimes, fastTimes] = await Promise.all([arrivals(slow), arrivals(fast)]);
    const slowSpan = slowTimes.at(-1)! - slowTimes[0]!;
    const fastSpan = fastTimes.at(-1)! - fastTimes[0]!;
    console.log(`slow.example ${SLOW_DOMAIN_PER_SECOND}/s: 20 mails in ${slowSpan} ms; fast.example: 10 mails in ${fastSpan} ms`);
    expect(slowSpan).toBeGreaterThanOrEqual((slow.length / SLOW_DOMAIN_PER_SECOND - 1) * 1_000);
    expect(busiestWindow(slowTimes, 1_000)).toBeLessThanOrEqual(2 * SLOW_DOMAIN_PER_SECOND);
    // The other domain is not held back by the slow one's budget.
    expect(fastTimes.at(-1)!).toBeLessThan(slowTimes.at(-1)! - 3_000);
    await expectSentOnFirstAttempt(ids);
  });
});
