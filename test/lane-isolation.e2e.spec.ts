import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@app/testing';
import { EmailLoopStack } from './stack.js';

/**
 * Bulk emails to queue. The README's figures are from `LANE_ISOLATION_BULK_COUNT=20000` (about five
 * minutes on the 2-core test machine, mostly the API queueing them); the default keeps the suite
 * quick and still leaves a backlog the transactional mail must get past.
 */
const BULK_COUNT = Number(process.env.LANE_ISOLATION_BULK_COUNT ?? 3_000);
const TRANSACTIONAL_COUNT = 100;
/** Parallel API requests while queueing the bulk mail. */
const BULK_POST_CONCURRENCY = 32;
/** Parallel transactional requests: a steady trickle, not a load of their own. */
const TRANSACTIONAL_POST_CONCURRENCY = 4;
/** The share of the bulk mail that must still be unsent when the last transactional email arrived. */
const MIN_BACKLOG_SHARE = 0.25;

/**
 * Lanes isolated end to end: `transactional` and `bulk` each have their own topic, consumer
 * group, queue, worker concurrency and SMTP pool, so transactional mail is sent while a bulk
 * backlog waits. The test queues the bulk mail through the API, then sends transactional mail
 * and asserts the structure: every transactional email reached the SMTP server while a large
 * share of the bulk mail was still unsent. Latency (accepted by the API → received by the SMTP
 * server) is measured with and without the backlog and printed; speed is never asserted here.
 */
describe('lanes isolated end to end', () => {
  const stack = new EmailLoopStack();
  /** When each email reached the SMTP server, by email id. */
  const received = new Map<string, number>();
  let bulkReceived = 0;

  beforeAll(async () => {
    await stack.start();
    stack.smtp.onMail((mail) => {
      if (mail.emailId) received.set(mail.emailId, mail.receivedAt.getTime());
      if (mail.subject === 'bulk') bulkReceived++;
    });
  });

  afterAll(async () => {
    await stack.stop();
  });

  /** Runs `task(i)` for i in [0, count) with at most `concurrency` at a time. */
  async function inParallel(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) await task(next++);
      }),
    );
  }

  /** Sends transactional emails and resolves with each one's latency, accepted → at the SMTP server (ms). */
  async function transactionalLatencies(tag: string): Promise<number[]> {
    const acceptedAt = new Map<string, number>();
    await inParallel(TRANSACTIONAL_COUNT, TRANSACTIONAL_POST_CONCURRENCY, async (i) => {
      const res = await stack.post('/v1/emails', { to: `${tag}${i}@tx.example`, subject: 'transactional', text: 'Your code is 123456', lane: 'transactional' });
      expect(res.status).toBe(202);
      acceptedAt.set(res.body.id, Date.now());
    });
    await waitFor(() => [...acceptedAt.keys()].every((id) => received.has(id)), {
      timeoutMs: 120_000,
      intervalMs: 20,
      description: `${TRANSACTIONAL_COUNT} transactional emails at the SMTP server`,
    });
    return [...acceptedAt].map(([id, at]) => received.get(id)! - at);
  }

  it(`sends transactional mail while ${BULK_COUNT} bulk emails wait, and measures its latency both ways`, { timeout: 900_000 }, async () => {
    const idle = await transactionalLatencies('idle');

    const queueStart = Date.now();
    await inParallel(BULK_COUNT, BULK_POST_CONCURRENCY, async (i) => {
      const res = await stack.post('/v1/emails', { to: `reader${i}@bulk.example`, subject: 'bulk', text: 'This week in email', lane: 'bulk' });
      expect(res.status).toBe(202);
    });
    const queueMs = Date.now() - queueStart;
    const bulkSentWhileQueueing = bulkReceived;

    const loaded = await transactionalLatencies('busy');
    const backlog = BULK_COUNT - bulkReceived;

    const report = [
      `lane isolation: ${BULK_COUNT} bulk emails queued through the API in ${(queueMs / 1_000).toFixed(1)} s (${Math.round(BULK_COUNT / (queueMs / 1_000))}/s); ${bulkSentWhileQueueing} of them sent meanwhile`,
      `transactional latency, accepted → SMTP server, ${TRANSACTIONAL_COUNT} emails each:`,
      `  without a bulk backlog: p50 ${percentile(idle, 50)} ms, p99 ${percentile(idle, 99)} ms`,
      `  with the bulk backlog:  p50 ${percentile(loaded, 50)} ms, p99 ${percentile(loaded, 99)} ms`,
      `bulk still unsent when the last transactional email arrived: ${backlog} of ${BULK_COUNT}`,
    ];
    console.log(report.join('\n'));

    expect(loaded).toHaveLength(TRANSACTIONAL_COUNT);
    expect(backlog).toBeGreaterThanOrEqual(Math.floor(BULK_COUNT * MIN_BACKLOG_SHARE));
  });
});

/** The p-th percentile (nearest rank) of `values`. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
