import { startChild, type Child } from '../lib/rpc.js';
import type { RunResult } from './load-generator.process.js';
import type { TargetSpec } from './targets.js';

export type { RequestRecord, RunResult } from './load-generator.process.js';
export type { TargetSpec } from './targets.js';

/** The parent's handle on a load generator process. */
export class LoadGenerator {
  private constructor(private readonly child: Child) {}

  static start(): LoadGenerator {
    return new LoadGenerator(startChild('load-generator', 'load/load-generator.process.ts'));
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Open loop: `rate` requests a second for `durationMs`, numbered from `firstSeq`. */
  open(target: TargetSpec, rate: number, durationMs: number, firstSeq: number): Promise<RunResult> {
    return this.child.call('open', { target, rate, durationMs, firstSeq });
  }

  /** Closed loop: `concurrency` clients send `total` requests, numbered from `firstSeq`. */
  closed(target: TargetSpec, concurrency: number, total: number, firstSeq: number): Promise<RunResult> {
    return this.child.call('closed', { target, concurrency, total, firstSeq });
  }

  stop(): Promise<void> {
    return this.child.stop();
  }
}
