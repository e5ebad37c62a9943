import { startChild, type Child } from '../lib/rpc.js';

/** The parent's handle on the sink process (sink.process.ts). */
export class Sink {
  private constructor(private readonly child: Child, readonly port: number) {}

  static async start(): Promise<Sink> {
    const child = startChild('sink', 'sink/sink.process.ts');
    const port = await child.call<number>('listen');
    return new Sink(child, port);
  }

  get pid(): number {
    return this.child.pid;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  count(): Promise<{ count: number; bytes: number }> {
    return this.child.call('count');
  }

  /**
   * First arrival time (ms) per recipient since the last reset, and how many messages came again
   * for a recipient that had already arrived (duplicates: the loop is at-least-once at SMTP).
   */
  async arrivals(): Promise<{ at: Map<string, number>; duplicates: Map<string, number> }> {
    const pairs = await this.child.call<[string, number][]>('arrivals');
    const at = new Map<string, number>();
    const duplicates = new Map<string, number>();
    for (const [recipient, time] of pairs) {
      if (at.has(recipient)) duplicates.set(recipient, (duplicates.get(recipient) ?? 0) + 1);
      else at.set(recipient, time);
    }
    return { at, duplicates };
  }

  async arrivalTimes(): Promise<number[]> {
    const pairs = await this.child.call<[string, number][]>('arrivals');
    return pairs.map(([, at]) => at);
  }

  reset(): Promise<boolean> {
    return this.child.call('reset');
  }

  stop(): Promise<void> {
    return this.child.stop();
  }
}
