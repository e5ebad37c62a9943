import { Controller, Get } from '@nestjs/common';
import { OutboxStatsReader, type OutboxStats } from '@app/outbox';

@Controller('health')
export class HealthController {
  constructor(private readonly outbox: OutboxStatsReader) {}

  /** Liveness plus the outbox backlog of status events. */
  @Get()
  async health(): Promise<{ status: 'ok'; outbox: OutboxStats }> {
    return { status: 'ok', outbox: await this.outbox.read() };
  }
}
