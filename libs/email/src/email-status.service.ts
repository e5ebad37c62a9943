import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { STATUS_OF_EVENT, isForwardTransition, type EmailEventMessage } from '@app/contracts';
import { InboxStore } from '@app/inbox';
import type { HandlerOutcome } from '@app/kafka';
import { EmailEventHandlers, type EmailStatusEvent } from './email-event-handlers.js';
import { EmailRepository, type EmailRow } from './email.repository.js';
import { UnknownEmailEventError } from './email.errors.js';

const INBOX_CONSUMER = 'email-status';

/**
 * Applies status events to emails, exactly once and monotonically: a repeated event is a
 * `duplicate`, a late event is recorded in the history but never moves the status backwards.
 *
 * A batch is applied in one transaction with a constant number of statements (inbox, lock,
 * history, status; then the app's handlers), and gives the same rows, outcomes and handler calls
 * as applying its events one by one in input order:
 * - an event already in the inbox, or repeated within the batch (the first one wins), is a
 *   `duplicate` and has no effect at all;
 * - the events of one email are applied in input order (the partition's offset order), each
 *   against the state the previous one produced; only each email's final state is written;
 * - the app's handlers run after all the batch's status writes, once per applied event, in input
 *   order, each with the email as this event left it (`event.email`, `statusChanged`). A handler
 *   that reads the `emails` or `email_events` rows itself sees the batch's final state of the
 *   email, which can already include later events of the batch (see `OnEmailEvent`);
 * - one unknown email fails the whole batch with `UnknownEmailEventError` and nothing is written:
 *   the Kafka transport then applies the batch's messages one at a time, so only that event is
 *   dead-lettered.
 */
@Injectable()
export class EmailStatusService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly emails: EmailRepository,
    private readonly inbox: InboxStore,
    private readonly handlers: EmailEventHandlers,
  ) {}

  async apply(event: EmailEventMessage): Promise<HandlerOutcome> {
    const [outcome] = await this.applyBatch([event]);
    return outcome!;
  }

  /** Applies the events in one transaction; returns the outcome of each, in input order. */
  async applyBatch(events: readonly EmailEventMessage[]): Promise<HandlerOutcome[]> {
    if (events.length === 0) return [];
    return this.dataSource.transaction(async (manager) => {
      const recorded = await this.inbox.recordMany(
        manager,
        INBOX_CONSUMER,
        events.map((e) => e.eventId),
      );
      const outcomes: HandlerOutcome[] = events.map(() => 'duplicate');
      // Taken from the set as it is used: a second copy of an event in the batch is a duplicate.
      const fresh = [...events.keys()].filter((i) => recorded.delete(events[i]!.eventId));
      if (fresh.length > 0) {
        // The row locks order concurrent events of one email (they share a partition, but a
        // rebalance can briefly hand the same partition to two instances).
        const locked = await this.emails.lockMany(
          manager,
          fresh.map((i) => events[i]!.emailId),
        );
        const state = new Map<string, EmailRow>(locked.map((row) => [row.id, row]));
        const changed = new Set<string>();
        const applied: EmailStatusEvent[] = [];
        for (const i of fresh) {
          const event = events[i]!;
          const email = state.get(event.emailId);
          if (!email) throw new UnknownEmailEventError(event.emailId);
          const next = { status: STATUS_OF_EVENT[event.type], attempt: event.detail.attempt ?? email.attempt };
          const statusChanged = isForwardTransition(email, next);
          const after: EmailRow = statusChanged
            ? {
                ...email,
                ...next,
                messageId: event.detail.messageId ?? email.messageId,
                smtpResponse: event.detail.smtpResponse ?? email.smtpResponse,
              }
            : email;
          if (statusChanged) {
            state.set(email.id, after);
            changed.add(email.id);
          }
          outcomes[i] = statusChanged ? 'processed' : 'skipped';
          applied.push({
            eventId: event.eventId,
            type: event.type,
            emailId: event.emailId,
            occurredAt: event.occurredAt,
            detail: event.detail,
            email: {
              status: after.status,
              attempt: after.attempt,
              lane: after.lane,
              messageId: after.messageId,
              smtpResponse: after.smtpResponse,
              metadata: after.metadata,
            },
            statusChanged,
          });
        }
        await this.emails.insertEvents(
          manager,
          fresh.map((i) => events[i]!),
        );
        await this.emails.updateStatuses(
          manager,
          [...changed].map((id) => state.get(id)!),
        );
        // The app's handlers run in this transaction: their effects commit with the events or not at all.
        await this.handlers.dispatchMany(applied, { manager });
      }
      return outcomes;
    });
  }
}
