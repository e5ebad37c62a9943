import { Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { describeError } from '@app/common';
import type { EmailCancelRequestedMessage, Lane } from '@app/contracts';
import type { HandlerOutcome } from '@app/kafka';
import { MailEvents } from '../events/mail-events.js';
import { SendQueue } from '../sending/send-queue.js';
import { MailRequestsRepository, uuidKey, type MailRequestStatus } from './mail-requests.repository.js';

/** What {@link MailCancelsService.apply} did: the emails it canceled, and the status of those it found but could not cancel. */
export interface AppliedCancels {
  canceled: { emailId: string; lane: Lane }[];
  statuses: Map<string, MailRequestStatus>;
}

/**
 * Applies cancel requests (`email.cancel_requested`, from `DELETE /v1/emails/:id`), a batch at a
 * time. Invariants:
 *
 * - An email is canceled only while no SMTP hand-off has started (`pending`, `scheduled`, or
 *   `retrying` between attempts), under its row lock: a cancel and the start of an attempt
 *   exclude each other, so an email is never both `canceled` and sent.
 * - Each email canceled gets its `canceled` status and one `email.canceled` event in the same
 *   transaction; a repeated cancel finds it canceled and is a `duplicate`, changing nothing.
 * - A cancel for an email the mailer does not know leaves a tombstone, a `canceled` request
 *   (with its event): Kafka delivers a cancel after its request, so this happens only when the
 *   request was dead-lettered; if it is requeued later, it finds its email id taken and is never sent.
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
    const applied = await this.dataSource.transaction((manager) => this.apply(manager, cancels));
    return this.afterCommit(cancels, applied);
  }

  /**
   * The database half of {@link cancelBatch}, in the caller's transaction (`MailRequestsService`
   * applies the cancels of a run in the transaction that records the run's requests).
   */
  async apply(manager: EntityManager, cancels: readonly EmailCancelRequestedMessage[]): Promise<AppliedCancels> {
    const firstOfEach = [...new Map(cancels.map((c) => [uuidKey(c.emailId), c])).values()];
    const emailIds = firstOfEach.map((c) => c.emailId);
    const rows = await this.requests.cancelMany(manager, emailIds);
    const done = new Set(rows.map((row) => uuidKey(row.emailId)));
    const others = await this.requests.findMany(manager, emailIds.filter((emailId) => !done.has(uuidKey(emailId))));
    // Unknown to the mailer: its request was dead-lettered (and may be requeued), or is older
    // than retention. A tombstone makes the cancel win if the request comes after all.
    rows.push(...(await this.requests.insertTombstones(manager, firstOfEach.filter((c) => !done.has(uuidKey(c.emailId)) && !others.has(c.emailId)))));
    await this.events.recordMany(
      manager,
      rows.map(({ emailId }) => ({ emailId, type: 'email.canceled', detail: { code: 'canceled', reason: 'canceled on request before any SMTP hand-off' } })),
    );
    return { canceled: rows, statuses: others };
  }

  /** After the commit of {@link apply}: the refusals logged, the canceled emails' jobs removed, one outcome per message. */
  async afterCommit(cancels: readonly EmailCancelRequestedMessage[], { canceled, statuses }: AppliedCancels): Promise<HandlerOutcome[]> {
    const canceledKeys = new Set(canceled.map((row) => uuidKey(row.emailId)));
    for (const [emailId, status] of statuses) {
      if (status !== 'canceled' && !canceledKeys.has(uuidKey(emailId))) {
        this.logger.warn(`email ${emailId}: cancel refused, it is ${status} (an SMTP hand-off started, or it ended)`);
      }
    }
    await this.queue.removeMany(canceled).catch((error: unknown) => {
      this.logger.warn(`removing the jobs of ${canceled.length} canceled email(s) failed (they will find them canceled): ${describeError(error)}`);
    });
    const counted = new Set<string>();
    return cancels.map(({ emailId }) => {
      const key = uuidKey(emailId);
      const first = !counted.has(key);
      counted.add(key);
      if (canceledKeys.has(key)) return first ? 'processed' : 'duplicate';
      return statuses.get(emailId) === 'canceled' ? 'duplicate' : 'skipped';
    });
  }
}
