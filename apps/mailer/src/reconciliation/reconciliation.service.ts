import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { z } from 'zod';
import { MAILER_CONFIG, type MailerConfig, messageIdOf } from '../config.js';
import { MailEvents } from '../events/mail-events.js';
import { mapPage, pageOf, type Page, type PageRequest } from '@app/common';
import { MailRequestsRepository, type MailRequestRow, type MailRequestStatus, type UnknownListKey } from '../requests/mail-requests.repository.js';
import { SendQueue } from '../sending/send-queue.js';
import { MailRequestNotFoundError, NotUnconfirmedError } from './reconciliation.errors.js';

/**
 * How an operator settles an `unknown` email, after checking the provider's logs for its
 * Message-ID: `delivered` (it did go out), `not_delivered` (give up: failed), or `resend`.
 */
export const reconciliationSchema = z.strictObject({
  outcome: z.enum(['delivered', 'not_delivered', 'resend']),
  note: z.string().min(1).max(500).optional(),
});
export type Reconciliation = z.infer<typeof reconciliationSchema>;

export interface UnconfirmedEmail {
  emailId: string;
  lane: string;
  attempt: number;
  /** The Message-ID the unconfirmed attempt used: what to look up at the provider. */
  messageId: string;
  to: string[];
  heldSince: string;
}

/** Lists emails held as `unknown` and applies an operator's decision about each. */
@Injectable()
export class ReconciliationService {
  private readonly logger = new Logger(ReconciliationService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly requests: MailRequestsRepository,
    private readonly events: MailEvents,
    private readonly queue: SendQueue,
    @Inject(MAILER_CONFIG) private readonly config: MailerConfig,
  ) {}

  /** A page of the emails held `unknown`, longest held first. */
  async listUnconfirmed(page: PageRequest<UnknownListKey>): Promise<Page<UnconfirmedEmail>> {
    const rows = await this.requests.listUnknown(this.dataSource.manager, page);
    return mapPage(pageOf(rows, page.limit, (r): UnknownListKey => [r.updatedAtMicros, r.emailId]), (r) => ({
      emailId: r.emailId,
      lane: r.lane,
      attempt: r.attempts,
      messageId: messageIdOf(this.config, r.emailId),
      to: r.payload.to,
      heldSince: r.updatedAt.toISOString(),
    }));
  }

  async reconcile(emailId: string, decision: Reconciliation): Promise<{ emailId: string; status: string }> {
    const { status, lane } = await this.dataSource.transaction(async (manager) => {
      const request = await this.requests.find(manager, emailId, { lock: true });
      if (!request) throw new MailRequestNotFoundError(emailId);
      if (request.status !== 'unknown') throw new NotUnconfirmedError(emailId, request.status);
      return { status: await this.settle(manager, request, decision), lane: request.lane };
    });
    // After the commit: if this enqueue is lost, the sweeper finds the open request anyway.
    if (status === 'retrying') await this.queue.ensure(emailId, lane);
    this.logger.log(`email ${emailId} reconciled as ${decision.outcome}`);
    return { emailId, status };
  }

  /** Records the operator's decision on the held attempt; returns the request's new status. */
  private async settle(manager: EntityManager, request: MailRequestRow, decision: Reconciliation): Promise<MailRequestStatus> {
    const { emailId, attempts: attempt } = request;
    const note = decision.note ? `: ${decision.note}` : '';
    switch (decision.outcome) {
      case 'delivered': {
        const messageId = messageIdOf(this.config, emailId);
        await this.requests.finishAttempt(manager, emailId, attempt, { status: 'sent', outcome: 'reconciled', messageId }, 'unknown');
        await this.events.record(manager, emailId, 'email.sent', { attempt, messageId, reason: `confirmed by reconciliation${note}` });
        return 'sent';
      }
      case 'not_delivered': {
        const reason = `not delivered, by reconciliation${note}`;
        await this.requests.finishAttempt(manager, emailId, attempt, { status: 'failed', outcome: 'reconciled', error: reason }, 'unknown');
        await this.events.record(manager, emailId, 'email.failed', { attempt, reason });
        return 'failed';
      }
      case 'resend': {
        const reason = `resend requested by reconciliation${note}`;
        await this.requests.finishAttempt(manager, emailId, attempt, { status: 'retrying', outcome: 'reconciled', error: reason }, 'unknown');
        await this.events.record(manager, emailId, 'email.retrying', { attempt, reason });
        return 'retrying';
      }
    }
  }
}
