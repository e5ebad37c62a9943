import { nowMs, sleep } from '../lib/clock.js';
import { serve } from '../lib/rpc.js';
import { createTarget, type TargetSpec } from './targets.js';

/**
 * The load generator, in its own process so that its CPU never competes with the measuring
 * process's timers. Two shapes:
 * - open loop: request i is due at start + i/rate, sent then whatever the earlier ones are doing
 *   (no coordinated omission); its latency counts from that scheduled time;
 * - closed loop: `concurrency` clients, each sending its next request when the last one answered.
 */

/** `[seq, scheduledAt, doneAt, ok (1/0), emailId]` for every request. */
export type RequestRecord = [number, number, number, number, string];

export interface RunResult {
  startedAt: number;
  endedAt: number;
  records: RequestRecord[];
  /** Requests never sent because the generator already had `maxInFlight` open. */
  notSent: number;
  /** The most frequent errors, with counts. */
  errors: Record<string, number>;
  /** Largest lag of a send behind its scheduled time (the generator's own health), ms. */
  maxSendLagMs: number;
}

const MAX_IN_FLIGHT = 5_000;

interface OpenArgs {
  target: TargetSpec;
  rate: number;
  durationMs: number;
  firstSeq: number;
}

interface ClosedArgs {
  target: TargetSpec;
  concurrency: number;
  total: number;
  firstSeq: number;
}

function collector() {
  const records: RequestRecord[] = [];
  const errors: Record<string, number> = {};
  const note = (seq: number, scheduledAt: number, outcome: { ok: boolean; id?: string; error?: string }) => {
    records.push([seq, scheduledAt, nowMs(), outcome.ok ? 1 : 0, outcome.id ?? '']);
    if (!outcome.ok) {
      const key = (outcome.error ?? 'unknown').slice(0, 120);
      errors[key] = (errors[key] ?? 0) + 1;
    }
  };
  return { records, errors, note };
}

async function open({ target: spec, rate, durationMs, firstSeq }: OpenArgs): Promise<RunResult> {
  const target = createTarget(spec);
  const { records, errors, note } = collector();
  const total = Math.round((rate * durationMs) / 1000);
  const interval = 1000 / rate;
  const startedAt = nowMs() + 50;
  let issued = 0;
  let inFlight = 0;
  let notSent = 0;
  let maxSendLagMs = 0;
  const all: Promise<void>[] = [];
  while (issued < total) {
    const now = nowMs();
    while (issued < total && startedAt + issued * interval <= now) {
      const scheduledAt = startedAt + issued * interval;
      const seq = firstSeq + issued++;
      maxSendLagMs = Math.max(maxSendLagMs, now - scheduledAt);
      if (inFlight >= MAX_IN_FLIGHT) {
        notSent++;
        continue;
      }
      inFlight++;
      all.push(
        target.send(seq).then((outcome) => {
          inFlight--;
          note(seq, scheduledAt, outcome);
        }),
      );
    }
    const nextDue = startedAt + issued * interval;
    await sleep(Math.max(0, Math.min(5, nextDue - nowMs())));
  }
  await Promise.all(all);
  const endedAt = nowMs();
  await target.close();
  return { startedAt, endedAt, records, notSent, errors, maxSendLagMs };
}

async function closed({ target: spec, concurrency, total, firstSeq }: ClosedArgs): Promise<RunResult> {
  const target = createTarget(spec);
  const { records, errors, note } = collector();
  const startedAt = nowMs();
  let issued = 0;
  const client = async () => {
    while (issued < total) {
      const seq = firstSeq + issued++;
      const scheduledAt = nowMs();
      note(seq, scheduledAt, await target.send(seq));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const endedAt = nowMs();
  await target.close();
  return { startedAt, endedAt, records, notSent: 0, errors, maxSendLagMs: 0 };
}

serve({ open, closed });
