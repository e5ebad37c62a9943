import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { describeError } from '@app/common';
import type { EmailCancelRequestedMessage } from '@app/contracts';
import type { HandlerOutcome } from '@app/kafka';
import { MailEvents } from '../events/mail-events.js';
import { SendQueue } from '../sending/send-queue.js';
import { MailRequestsRepository, uuidKey } from './mail-requests.repository.js';

/**
 * Applies cancel requests (`email.cancel_requested`, from `DELETE /v1/emails/:id`), a batch at a
 * time. Invariants:
 *
 * - An email is canceled only while no SMTP hand-off has started (`pending`, `scheduled`, or
 *   `retrying` between attempts), under its row lock: a cancel and the start of an attempt
 *   exclude each other, so an email is never both `canceled` and sent.
 * - Each email canceled gets its `canceled` status and one `email.canceled` event in the same
 *   transaction; a repeated cancel finds it canceled and is a `duplicate`, changing nothing.
 * - A cancel that comes too late (an attempt is `sending`, or the email is final or `unknown`) is
 *   refused: the email goes on to its outcome, and the refusal is logged (a warning naming the
 *   email and its status), not turned into an event, since the email's own events tell what
 *   happened to it.
 * - The send jobs of canceled emails are removed afterwards, best effort: a job that stays finds
 *   its email canceled and does nothing.
 */
@Injectable()
export class MailCancelsService {
  private readonly logger = new Logger(MailCancelsService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly requests: MailRequestsRepository,
    private readonly events: MailEvents,
    private readonly queue: SendQueue,
  ) {}

  /** Cancels what can still be canceled, in one transaction; one outcome per message, in order. */
  async cancelBatch(cancels: readonly EmailCancelRequestedMessage[]): Promise<HandlerOutcome[]> {
    if (cancels.length === 0) return [];
    const emailIds = [...new Map(cancels.map((c) => [uuidKey(c.emailId), c.emailId])).values()];
    const canceled = await this.dataSource.transaction(async (manager) => {
      const rows = await this.requests.cancelMany(manager, emailIds);
      await this.events.recordMany(
        manager,
        rows.map(({ emailId }) => ({ emailId, type: 'email.canceled', detail: { code: 'canceled', reason: 'canceled on request before any SMTP hand-off' } })),
      );
      return rows;
    });
    const canceledKeys = new Set(canceled.map((row) => uuidKey(row.emailId)));
    const notCanceled = emailIds.filter((emailId) => !canceledKeys.has(uuidKey(emailId)));
    const statuses = await this.requests.findMany(this.dataSource.manager, notCanceled);
    for (const emailId of notCanceled) {
      const status = statuses.get(emailId);
      if (status !== 'canceled') this.logger.warn(`email ${emailId}: cancel refused, ${status === undefined ? 'unknown email' : `it is ${status} (an SMTP hand-off started or it ended)`}`);
    }
    await this.queue.removeMany(canceled).catch((error: unknown) => {
      this.logger.warn(`removing the jobs of ${canceled.length} canceled email(s) failed (they will find them canceled): ${describeError(error)}`);
    });
    const counted = new Set<string>();
    return cancels.map(({ emailId }) => {
      const key = uuidKey(emailId);
      const first = !counted.has(key);
      counted.add(key);
      if (first && canceledKeys.has(key)) return 'processed';
      return statuses.get(emailId) === 'canceled' || canceledKeys.has(key) ? 'duplicate' : 'skipped';
    });
  }
}
