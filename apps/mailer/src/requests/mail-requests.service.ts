import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Clock, describeError } from '@app/common';
import type { EmailRequestedMessage } from '@app/contracts';
import type { HandlerOutcome } from '@app/kafka';
import { MailEvents } from '../events/mail-events.js';
import { SendQueue } from '../sending/send-queue.js';
import { SendJobSweeper } from '../sending/send-job-sweeper.js';
import { MailRequestsRepository, OPEN_STATUSES } from './mail-requests.repository.js';

/**
 * Accepts an email request from Kafka: records it once (unique on email id) with its `accepted`
 * (or `expired`) event, then makes sure a send job exists. A redelivered request records
 * nothing new but re-ensures the job, so a crash between commit and enqueue loses nothing.
 *
 * The enqueue never holds the Kafka handler up: when Redis does not answer (within the queue's
 * deadline) the request is already safe in PostgreSQL, and the sweeper is asked to create the
 * job as soon as Redis is back.
 */
@Injectable()
export class MailRequestsService {
  private readonly logger = new Logger(MailRequestsService.name);
  private deferred = 0;
  private lastDeferralLogAt = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly requests: MailRequestsRepository,
    private readonly events: MailEvents,
    private readonly queue: SendQueue,
    private readonly sweeper: SendJobSweeper,
    private readonly clock: Clock,
  ) {}

  async accept(request: EmailRequestedMessage): Promise<HandlerOutcome> {
    const expired = request.expiresAt !== undefined && Date.parse(request.expiresAt) <= this.clock.now().getTime();
    const inserted = await this.dataSource.transaction(async (manager) => {
      const isNew = await this.requests.insert(manager, request, expired ? 'expired' : 'pending');
      if (isNew) {
        await (expired
          ? this.events.record(manager, request.emailId, 'email.expired', { reason: 'expired before it was accepted' })
          : this.events.record(manager, request.emailId, 'email.accepted'));
      }
      return isNew;
    });
    const current = inserted ? null : await this.requests.find(this.dataSource.manager, request.emailId);
    const open = inserted ? !expired : current !== null && OPEN_STATUSES.includes(current.status);
    if (open) await this.enqueueOrDefer(request.emailId, request.lane);
    return inserted ? 'processed' : 'duplicate';
  }

  private async enqueueOrDefer(emailId: string, lane: EmailRequestedMessage['lane']): Promise<void> {
    try {
      await this.queue.enqueue(emailId, lane);
    } catch (error) {
      this.deferred++;
      // One line per outage and every 10 s during it, not one per email.
      if (Date.now() - this.lastDeferralLogAt > 10_000) {
        this.lastDeferralLogAt = Date.now();
        this.logger.warn(
          `${this.deferred} email(s) recorded without a send job so far (e.g. ${emailId}: ${describeError(error)}); the sweeper will create them`,
        );
      }
      this.sweeper.sweepSoon();
    }
  }
}
