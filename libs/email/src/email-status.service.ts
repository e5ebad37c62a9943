import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { STATUS_OF_EVENT, isForwardTransition, type EmailEventMessage } from '@app/contracts';
import { InboxStore } from '@app/inbox';
import type { HandlerOutcome } from '@app/kafka';
import { EmailEventHandlers } from './email-event-handlers.js';
import { EmailRepository } from './email.repository.js';
import { UnknownEmailEventError } from './email.errors.js';

const INBOX_CONSUMER = 'email-status';

/**
 * Applies status events to emails, exactly once and monotonically: a repeated event is a
 * `duplicate`, a late event is recorded in the history but never moves the status backwards.
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
    return this.dataSource.transaction(async (manager) => {
      if (!(await this.inbox.recordOnce(manager, INBOX_CONSUMER, event.eventId))) return 'duplicate';
      // The row lock orders concurrent events of one email (they share a partition, but a
      // rebalance can briefly hand the same partition to two instances).
      const email = await this.emails.findById(manager, event.emailId, { lock: true });
      if (!email) throw new UnknownEmailEventError(event.emailId);
      await this.emails.insertEvent(manager, event);
      const next = { status: STATUS_OF_EVENT[event.type], attempt: event.detail.attempt ?? email.attempt };
      const statusChanged = isForwardTransition(email, next);
      const change = {
        ...next,
        ...(event.detail.messageId !== undefined && { messageId: event.detail.messageId }),
        ...(event.detail.smtpResponse !== undefined && { smtpResponse: event.detail.smtpResponse }),
      };
      if (statusChanged) await this.emails.updateStatus(manager, email.id, change);
      const applied = statusChanged ? { ...email, ...change } : email;
      // The app's handlers run in this transaction: their effects commit with the event or not at all.
      await this.handlers.dispatch(
        {
          eventId: event.eventId,
          type: event.type,
          emailId: event.emailId,
          occurredAt: event.occurredAt,
          detail: event.detail,
          email: {
            status: applied.status,
            attempt: applied.attempt,
            lane: applied.lane,
            messageId: applied.messageId,
            smtpResponse: applied.smtpResponse,
            metadata: applied.metadata,
          },
          statusChanged,
        },
        { manager },
      );
      return statusChanged ? 'processed' : 'skipped';
    });
  }
}
