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

  /** Arrival time (ms) per recipient since the last reset. */
  async arrivals(): Promise<Map<string, number>> {
    const pairs = await this.child.call<[string, number][]>('arrivals');
    return new Map(pairs);
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
