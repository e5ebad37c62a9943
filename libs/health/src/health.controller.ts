import { Controller, Get, Inject, Logger, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService, type HealthCheckResult, type HealthIndicatorResult } from '@nestjs/terminus';
import { Public } from '@app/auth';
import type { Response } from 'express';
import { describeError } from '@app/common';
import { OutboxStatsReader, type OutboxStats } from '@app/outbox';
import { DEPENDENCY_PROBES, type DependencyProbe } from './dependency-probe.js';

/** A probe that has not answered by then counts as down. */
const PROBE_TIMEOUT_MS = 2_000;
/** Probes are shared by concurrent health requests and reused this long. */
const PROBE_CACHE_MS = 1_000;
/** What a client or load balancer is told to wait before asking a not-ready instance again. */
const RETRY_AFTER_SECONDS = 5;

/**
 * `GET /health` (liveness): 200 while the process serves HTTP, with each dependency's state and
 * the outbox backlog, so an app that starts without its broker is up and says what it waits for.
 * `GET /health/ready` (readiness): 200 when every dependency is usable, otherwise 503 with
 * `Retry-After` and the same details. Dependency checks run through `@nestjs/terminus`.
 *
 * A growing `outbox.oldestPendingAgeSeconds` means the broker is unreachable; `deadLettered` > 0
 * needs an operator (`OutboxDeadLetters`).
 *
 * Invariant: both answer with states (`up`/`down`) and counts only. The endpoints are open (no
 * API key), and a driver's reason for `down` names hosts, ports, users or URLs, so it goes to the
 * log (redacted, once per change of state) and the body says `reason: 'unavailable'`.
 */
@Controller('health')
@Public()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(DEPENDENCY_PROBES) private readonly probes: DependencyProbe[],
    private readonly outbox: OutboxStatsReader,
  ) {}

  private readonly logger = new Logger(HealthController.name);
  /** Probes last seen down, so a dependency's failure is logged once per outage, not per request. */
  private readonly down = new Set<string>();

  @Get()
  async live(): Promise<{ status: 'ok'; ready: boolean; dependencies: HealthCheckResult['details']; outbox: OutboxStats | null }> {
    const [readiness, outbox] = await Promise.all([this.readiness(), this.outbox.read().catch(() => null)]);
    return { status: 'ok', ready: readiness.status === 'ok', dependencies: readiness.details, outbox };
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) response: Response): Promise<HealthCheckResult> {
    const readiness = await this.readiness();
    if (readiness.status !== 'ok') response.status(503).setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
    return readiness;
  }

  private async readiness(): Promise<HealthCheckResult> {
    const checks = this.probes.map(
      (p) => () =>
        this.indicators
          .check(p.name)
          .attempt(async () => counts(await this.run(p)))
          .withTimeout(PROBE_TIMEOUT_MS)
          .cacheFor(PROBE_CACHE_MS),
    );
    let result: HealthCheckResult;
    try {
      result = await this.health.check(checks);
    } catch (error) {
      // terminus reports "not ready" as a 503 exception carrying the result.
      if (!(error instanceof ServiceUnavailableException)) throw error;
      result = error.getResponse() as HealthCheckResult;
    }
    return {
      status: result.status,
      info: statesOnly(result.info),
      error: statesOnly(result.error),
      details: statesOnly(result.details),
    };
  }

  private async run(probe: DependencyProbe): Promise<Record<string, unknown> | void> {
    try {
      const details = await probe.probe();
      if (this.down.delete(probe.name)) this.logger.log(`${probe.name} is up again`);
      return details;
    } catch (error) {
      if (!this.down.has(probe.name)) this.logger.warn(`${probe.name} is down: ${describeError(error)}`);
      this.down.add(probe.name);
      throw error;
    }
  }
}

/** The numbers a probe reported (its counts); anything else it returned stays out of the body. */
function counts(details: Record<string, unknown> | void): Record<string, number> | undefined {
  if (!details) return undefined;
  return Object.fromEntries(Object.entries(details).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
}

/**
 * Each dependency's state and counts: terminus adds the driver's message to a `down` entry (and a
 * response time to every entry); neither leaves the process.
 */
function statesOnly(results: Partial<HealthIndicatorResult> | undefined): HealthIndicatorResult {
  const out: HealthIndicatorResult = {};
  for (const [name, entry] of Object.entries(results ?? {})) {
    if (!entry) continue;
    out[name] =
      entry.status === 'up'
        ? { status: 'up', ...counts(Object.fromEntries(Object.entries(entry).filter(([key]) => key !== 'status' && key !== 'responseTime'))) }
        : { status: 'down', reason: 'unavailable' };
  }
  return out;
}
