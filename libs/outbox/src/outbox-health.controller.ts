import { Controller, Get } from '@nestjs/common';
import { OutboxStatsReader, type OutboxStats } from './outbox-stats.js';

/**
 * `GET /health`: liveness plus the outbox backlog. A growing `oldestPendingAgeSeconds` means the
 * broker is unreachable; `deadLettered` > 0 needs an operator (`OutboxDeadLetters`).
 * Register it in the app's `controllers`.
 */
@Controller('health')
export class OutboxHealthController {
  constructor(private readonly outbox: OutboxStatsReader) {}

  @Get()
  async health(): Promise<{ status: 'ok'; outbox: OutboxStats }> {
    return { status: 'ok', outbox: await this.outbox.read() };
  }
}
