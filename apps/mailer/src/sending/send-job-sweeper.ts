import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JobSweeper, type EnsureJobOutcome } from '@app/queue';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import { MailRequestsRepository, type OpenMailRequest } from '../requests/mail-requests.repository.js';
import { SendQueue } from './send-queue.js';

/**
 * Every request PostgreSQL still holds open gets a runnable send job (see `SendQueue.ensure`),
 * at start-up, every `SWEEP_INTERVAL_MS`, and soon after an enqueue that failed (Redis
 * unreachable): after a `FLUSHALL`, a lost job, or a job BullMQ gave up on, nothing stays stuck,
 * and a `scheduled` request's job is rebuilt as a delayed one that fires at its `send_at`.
 */
@Injectable()
export class SendJobSweeper extends JobSweeper<OpenMailRequest> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly requests: MailRequestsRepository,
    private readonly queue: SendQueue,
    @Inject(MAILER_CONFIG) config: MailerConfig,
  ) {
    super('send', config.SWEEP_INTERVAL_MS);
  }

  protected page(after: OpenMailRequest | null, limit: number): Promise<OpenMailRequest[]> {
    return this.requests.listOpen(this.dataSource.manager, limit, after?.emailId ?? null);
  }

  /** A rebuilt job waits for what PostgreSQL says is due: a scheduled request's `send_at`, a retrying one's announced next attempt. */
  protected ensure({ emailId, lane, sendAt, nextAttemptAt }: OpenMailRequest): Promise<EnsureJobOutcome> {
    return this.queue.ensure(emailId, lane, { notBefore: sendAt ?? nextAttemptAt });
  }
}
