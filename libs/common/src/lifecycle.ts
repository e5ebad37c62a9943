import type { INestApplicationContext } from '@nestjs/common';

/**
 * Graceful shutdown on SIGTERM/SIGINT: `app.close()` runs every `onApplicationShutdown` hook
 * (consumers commit and disconnect, workers finish their jobs, the relay ends its round), then
 * the process exits 0. Past `timeoutMs` it exits 1, so a stuck dependency cannot hang a deploy.
 *
 * Used instead of `enableShutdownHooks()`, which re-raises the signal after closing, so the
 * process would end by signal rather than with exit code 0.
 */
export function closeOnSignals(app: INestApplicationContext, name: string, timeoutMs = 25_000): void {
  let closing = false;
  const close = (signal: NodeJS.Signals): void => {
    if (closing) return;
    closing = true;
    console.log(`${name}: ${signal} received, shutting down`);
    setTimeout(() => {
      console.error(`${name}: shutdown did not finish within ${timeoutMs} ms`);
      process.exit(1);
    }, timeoutMs).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`${name}: shutdown failed`, error);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', close);
  process.once('SIGINT', close);
}

/** Runs an app's start-up; a failure (bad config, unreachable database) exits 1 with its message. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error && error.message.startsWith(`${name}:`) ? error.message : error);
    process.exit(1);
  });
}
