import type { INestApplicationContext } from '@nestjs/common';
import { redactSecrets } from './redaction.js';

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
        console.error(`${name}: shutdown failed: ${printable(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', close);
  process.once('SIGINT', close);
}

/**
 * Runs an app's start-up; a failure (bad config, unreachable database) exits 1 with its message.
 * A driver's error may quote the URL it was given, so it is printed redacted, stack included.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error && error.message.startsWith(`${name}:`) ? error.message : printable(error));
    process.exit(1);
  });
}

/** An error with its stack, without credentials. */
function printable(error: unknown): string {
  return redactSecrets(error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error));
}
