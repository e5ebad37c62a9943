import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childEnv } from './env.js';

// Each handler declares its own argument type; the channel carries plain JSON.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Handler = (args: any) => unknown;

interface Request {
  id: number;
  cmd: string;
  args: unknown;
}

interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}

/**
 * The child side: serves `handlers` over the IPC channel of a process started by
 * {@link startChild}. A handler's return value (or thrown message) is the reply.
 */
export function serve(handlers: Record<string, Handler>): void {
  process.on('message', (raw) => {
    const { id, cmd, args } = raw as Request;
    const handler = handlers[cmd];
    const reply = (r: Omit<Reply, 'id'>) => process.send?.({ id, ...r });
    if (!handler) return reply({ error: `unknown command ${cmd}` });
    Promise.resolve()
      .then(() => handler(args))
      .then(
        (result) => reply({ result }),
        (error: unknown) => reply({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  // The parent going away ends the child: no orphaned load generators or sinks.
  process.on('disconnect', () => process.exit(0));
}

/** The parent side: a bench process (a `.process.ts` module run with tsx) and calls into it. */
export class Child {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly exited: Promise<number | null>;

  constructor(readonly name: string, readonly proc: ChildProcess) {
    proc.on('message', (raw) => {
      const { id, result, error } = raw as Reply;
      const waiter = this.pending.get(id);
      if (!waiter) return;
      this.pending.delete(id);
      if (error !== undefined) waiter.reject(new Error(`${name}: ${error}`));
      else waiter.resolve(result);
    });
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code) => {
        for (const waiter of this.pending.values()) waiter.reject(new Error(`${name} exited with ${code}`));
        this.pending.clear();
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  call<T>(cmd: string, args: unknown = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ id, cmd, args });
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Starts `module` (a path relative to `bench/`) as its own Node process under tsx. */
export function startChild(name: string, module: string): Child {
  const file = fileURLToPath(new URL(`../${module}`, import.meta.url));
  const proc = fork(file, [], { execArgv: ['--import', 'tsx'], env: childEnv({}), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Child(name, proc);
}
