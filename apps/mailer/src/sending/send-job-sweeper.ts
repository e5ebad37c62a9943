import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JobSweeper, type EnsureJobOutcome } from '@app/queue';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import { MailRequestsRepository, type OpenMailRequest as OpenRequest } from '../requests/mail-requests.repository.js';
import { SendQueue } from './send-queue.js';


/**
 * Every request PostgreSQL still holds open gets a runnable send job (see `SendQueue.ensure`),
 * at start-up, every `SWEEP_INTERVAL_MS`, and soon after an enqueue that failed (Redis
 * unreachable): after a `FLUSHALL`, a lost job, or a job BullMQ gave up on, nothing stays stuck.
 */
@Injectable()
export class SendJobSweeper extends JobSweeper<OpenRequest> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly requests: MailRequestsRepository,
    private readonly queue: SendQueue,
    @Inject(MAILER_CONFIG) config: MailerConfig,
  ) {
    super('send', config.SWEEP_INTERVAL_MS);
  }

  protected page(after: OpenRequest | null, limit: number): Promise<OpenRequest[]> {
    return this.requests.listOpen(this.dataSource.manager, limit, after?.emailId ?? null);
  }

  protected ensure({ emailId, lane, nextAttemptAt }: OpenRequest): Promise<EnsureJobOutcome> {
    // A retrying request's rebuilt job waits for the time its email.retrying event announced.
    return this.queue.ensure(emailId, lane, nextAttemptAt ? { notBefore: nextAttemptAt } : {});
  }
}
