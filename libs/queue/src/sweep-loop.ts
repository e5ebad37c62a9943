/** First wait of a requested sweep, doubled after each failed sweep, capped. */
const SOON_MS = 1_000;
const SOON_MAX_MS = 10_000;

/**
 * When a sweeper (a pass that rebuilds queue jobs from PostgreSQL) runs: once at `start()`, then
 * every `intervalMs`, and on request (`soon()`) within about a second, repeated with back-off
 * until a pass gets through. Passes never overlap; `stop()` waits for the one in flight.
 * `sweep` resolves with whether it got through and must not throw.
 */
export class SweepLoop {
  private timer?: NodeJS.Timeout;
  private soonTimer?: NodeJS.Timeout;
  private soonDelayMs = SOON_MS;
  private stopped = false;
  private running?: Promise<boolean>;

  constructor(
    private readonly sweep: () => Promise<boolean>,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    void this.now().then((swept) => swept || this.soon()); // the dependency may not be there yet
    this.timer = setInterval(() => void this.now(), this.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.soonTimer);
    await this.running;
  }

  /** Asks for a pass within about a second, repeated with back-off until one succeeds. */
  soon(): void {
    if (this.soonTimer || this.stopped) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      void this.now().then((swept) => {
        this.soonDelayMs = swept ? SOON_MS : Math.min(SOON_MAX_MS, this.soonDelayMs * 2);
        if (!swept) this.soon();
      });
    }, this.soonDelayMs);
  }

  /** Starts a pass unless one is running; resolves with whether it got through. */
  private now(): Promise<boolean> {
    this.running ??= this.sweep().finally(() => (this.running = undefined));
    return this.running;
  }
}
