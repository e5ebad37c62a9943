import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { waitFor } from './wait-for.js';

export type AppName = 'business' | 'mailer';

const REPO_ROOT = resolve(import.meta.dirname, '../../..');

/**
 * The command of package.json's `start:<app>` script, read when the app starts, so the tests run
 * the built app exactly the way production does (`npm run start:<app>`).
 */
function startCommand(app: AppName): string {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const script = pkg.scripts?.[`start:${app}`];
  if (!script) throw new Error(`package.json has no "start:${app}" script`);
  // `exec` only makes the app the spawned process if the script is one simple command.
  if (/[;&|\n]/.test(script)) throw new Error(`"start:${app}" must be a single command to run under exec: ${script}`);
  return script;
}

/**
 * One of the built apps (`dist/`) running as its own process, started with the command of
 * package.json's `start:<app>` script and configured only through its environment, as in
 * production. Output goes to `test-output/<name>.log`.
 */
export class AppProcess {
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  readonly logFile: string;

  constructor(
    readonly app: AppName,
    readonly env: Record<string, string>,
    /** `http://host:port` of the app's HTTP server; `/health` answers once it is ready. */
    readonly baseUrl: string,
    readonly label: string = app,
  ) {
    const dir = join(REPO_ROOT, 'test-output');
    mkdirSync(dir, { recursive: true });
    this.logFile = join(dir, `${label}.log`);
  }

  async start(): Promise<void> {
    const command = startCommand(this.app);
    const log = createWriteStream(this.logFile, { flags: 'a' });
    // `sh -c "exec <script>"`: the shell replaces itself with the app, so the spawned PID is the
    // app's and the signals stop() sends (SIGTERM, SIGKILL) reach it directly.
    const child = spawn('sh', ['-c', `exec ${command}`], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    this.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    let exitCode: number | null | undefined;
    void this.exited.then((code) => (exitCode = code));
    const outcome = await waitFor(
      async () => {
        // An app that exited will not become healthy: stop waiting at once.
        if (exitCode !== undefined) return { exited: true as const, code: exitCode };
        const res = await fetch(`${this.baseUrl}/health`);
        return res.ok ? { exited: false as const } : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, description: `${this.label} to become healthy (log: ${this.logFile})` },
    );
    if (outcome.exited) throw new Error(`${this.label} exited with ${outcome.code} before it became healthy; see ${this.logFile}`);
  }

  /** True between `start()` and the process's exit. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` and waits for the process to exit; resolves with its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return this.child?.exitCode ?? null;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    try {
      return await (this.exited as Promise<number | null>);
    } finally {
      clearTimeout(timer);
    }
  }
}
