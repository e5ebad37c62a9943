import type { LoadGenerator } from '../load/load-generator.js';
import type { ProcessSampler } from '../sampling/process-sampler.js';
import type { Sink } from '../sink/sink-client.js';
import type { BenchOptions } from './options.js';

/** What every scenario shares: the sink, the load generator, the sampler, and unique recipients. */
export interface BenchContext {
  options: BenchOptions;
  sink: Sink;
  load: LoadGenerator;
  sampler: ProcessSampler;
  /** Recipients are `recipientOf(tag, seq)`; `takeSeqs(n)` hands out the next `n` numbers. */
  tag: string;
  takeSeqs(n: number): number;
  log(message: string): void;
}

/** CPU seconds per 1,000 emails for each sampled group, from a usage window. */
export function cpuPer1000(usage: Record<string, { cpuSeconds: number }>, emails: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, u] of Object.entries(usage)) out[name] = emails > 0 ? Math.round((u.cpuSeconds / emails) * 1000 * 100) / 100 : 0;
  return out;
}
