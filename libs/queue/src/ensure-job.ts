import type { ConnectionOptions, Queue } from 'bullmq';
import { redisOptions, type RedisTlsSettings } from './redis-connection.js';

/** BullMQ connection options (see {@link redisOptions}); workers block on Redis, so retries per request are unlimited. */
export function bullConnection(redisUrl: string, tls: RedisTlsSettings = {}): ConnectionOptions {
  return { ...redisOptions(redisUrl, tls), maxRetriesPerRequest: null };
}

export type EnsureJobOutcome = 'added' | 'revived' | 'present';

/**
 * Makes sure a runnable job with this id exists for work PostgreSQL still holds open: adds a
 * missing one (Redis wiped), revives one BullMQ gave up on, replaces a finished one. `add` adds
 * the job with this id. With `dueNow`, the caller knows the work is due now (PostgreSQL says so),
 * so a job still waiting out an earlier delay is made to run at once. Returns what it did.
 */
export async function ensureJob(queue: Queue, jobId: string, add: () => Promise<unknown>, options: { dueNow?: boolean } = {}): Promise<EnsureJobOutcome> {
  const job = await queue.getJob(jobId);
  if (!job) {
    await add();
    return 'added';
  }
  const state = await job.getState();
  if (state === 'failed') {
    await job.retry('failed');
    return 'revived';
  }
  if (state === 'delayed' && options.dueNow) {
    await job.promote();
    return 'revived';
  }
  if (state === 'completed' || state === 'unknown') {
    await job.remove();
    await add();
    return 'added';
  }
  return 'present';
}
