import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './clock.js';
import { childEnv } from './env.js';

export const LOG_DIR = 'test-output/bench';

/**
 * A built app (`node dist/apps/<app>/src/main.js`, run directly so that the process id is the
 * app's own, for /proc sampling), configured by environment as `test/stack.ts` does. Output goes
 * to `test-output/bench/<label>.log`.
 */
export class AppRunner {
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  readonly logFile: string;

  constructor(
    readonly app: 'business' | 'mailer',
    readonly env: Record<string, string>,
    readonly port: number,
    readonly label: string,
    /** Options for node itself, before the script (e.g. `--cpu-prof`). */
    private readonly nodeArgs: string[] = [],
  ) {
    mkdirSync(LOG_DIR, { recursive: true });
    this.logFile = join(LOG_DIR, `${label}.log`);
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [...this.nodeArgs, `dist/apps/${this.app}/src/main.js`], { env: childEnv(this.env), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${this.label} exited with ${child.exitCode}; see ${this.logFile}`);
      const ok = await fetch(`${this.baseUrl}/health`).then((r) => r.ok, () => false);
      if (ok) return;
      await sleep(250);
    }
    throw new Error(`${this.label} did not become healthy in 60 s; see ${this.logFile}`);
  }

  async stop(): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 30_000);
    try {
      return await (this.exited as Promise<number | null>);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lines of the app's log at level ERROR or WARN (Nest's logger), for the report. */
  problems(): string[] {
    try {
      return readFileSync(this.logFile, 'utf8')
        .split('\n')
        .filter((line) => /\b(ERROR|WARN)\b/.test(line));
    } catch {
      return [];
    }
  }
}
