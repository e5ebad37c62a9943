import { describe, expect, it } from 'vitest';
import { sleep } from '@app/common';
import { RetentionJob, type RetentionPolicy } from './retention-job.js';

/** A table holding `due` rows that are due; each batch deletes up to `limit` of them. */
function table(name: string, due: number, options: { batchDelayMs?: number; fail?: boolean } = {}) {
  const batches: number[] = [];
  const policy: RetentionPolicy = {
    table: name,
    ageMs: 60_000,
    deleteBatch: async (limit) => {
      if (options.fail) throw new Error('database unavailable');
      if (options.batchDelayMs) await sleep(options.batchDelayMs);
      const deleted = Math.min(limit, due);
      due -= deleted;
      batches.push(deleted);
      return deleted;
    },
  };
  return { policy, batches, left: () => due };
}

describe('RetentionJob', () => {
  it('deletes batch after batch until one comes back short, table by table', async () => {
    const a = table('a', 25);
    const b = table('b', 10);
    const job = new RetentionJob('test', [a.policy, b.policy], { intervalMs: 60_000, batchSize: 10 });
    expect(await job.runOnce()).toEqual({ a: 25, b: 10 });
    expect(a.batches).toEqual([10, 10, 5]);
    expect(b.batches).toEqual([10, 0]);
  });

  it('leaves a table whose age is 0 (keep forever) alone', async () => {
    const kept = table('kept', 5);
    const pruned = table('pruned', 5);
    const job = new RetentionJob('test', [{ ...kept.policy, ageMs: 0 }, pruned.policy], { intervalMs: 60_000, batchSize: 10 });
    expect(await job.runOnce()).toEqual({ pruned: 5 });
    expect(kept.batches).toEqual([]);
  });

  it('still prunes the other tables when one fails', async () => {
    const broken = table('broken', 5, { fail: true });
    const ok = table('ok', 5);
    const job = new RetentionJob('test', [broken.policy, ok.policy], { intervalMs: 60_000, batchSize: 10 });
    expect(await job.runOnce()).toEqual({ broken: 0, ok: 5 });
  });

  it('runs a first pass at start, never two at once, and stops between batches', async () => {
    const slow = table('slow', 1_000, { batchDelayMs: 20 });
    let concurrent = 0;
    let maxConcurrent = 0;
    const policy: RetentionPolicy = {
      table: 'slow',
      ageMs: 60_000,
      deleteBatch: async (limit) => {
        maxConcurrent = Math.max(maxConcurrent, ++concurrent);
        try {
          return await slow.policy.deleteBatch(limit);
        } finally {
          concurrent--;
        }
      },
    };
    const job = new RetentionJob('test', [policy], { intervalMs: 5, batchSize: 10 });
    job.start();
    await sleep(100);
    await job.stop();
    const afterStop = slow.batches.length;
    expect(afterStop).toBeGreaterThan(0);
    expect(slow.left()).toBeGreaterThan(0); // stopped mid-pass, not drained
    expect(maxConcurrent).toBe(1);
    await sleep(50);
    expect(slow.batches).toHaveLength(afterStop); // nothing runs after stop() returned
  });
});
