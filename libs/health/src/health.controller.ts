import { Controller, Get, Inject, Res, ServiceUnavailableException } from '@nestjs/common';
import { Public } from '@app/auth';
import { HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import type { Response } from 'express';
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
          .attempt(async () => (await p.probe()) ?? undefined)
          .withTimeout(PROBE_TIMEOUT_MS)
          .cacheFor(PROBE_CACHE_MS),
    );
    try {
      return await this.health.check(checks);
    } catch (error) {
      // terminus reports "not ready" as a 503 exception carrying the result.
      if (error instanceof ServiceUnavailableException) return error.getResponse() as HealthCheckResult;
      throw error;
    }
  }
}
