import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { Clock, IdGenerator } from '@app/common';
import { CONTRACT_VERSION, Topics, type EmailEventDetail, type EmailEventMessage, type EmailEventType } from '@app/contracts';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter, type OutboxInsert, type OutboxRecord } from '@app/outbox';

/** A status event to record for one email. */
export interface MailEvent {
  emailId: string;
  type: EmailEventType;
  detail?: EmailEventDetail;
}

/** Records status events in the mailer's outbox, inside the transaction that made them true. */
@Injectable()
export class MailEvents {
  constructor(
    private readonly outbox: OutboxWriter,
    private readonly topics: KafkaTopics,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
  ) {}

  async record(manager: EntityManager, emailId: string, type: EmailEventType, detail: EmailEventDetail = {}): Promise<void> {
    await this.recordMany(manager, [{ emailId, type, detail }]);
  }

  /** Records the events with one outbox insert, each keyed by its email id (per-email order in Kafka). */
  async recordMany(manager: EntityManager, events: readonly MailEvent[]): Promise<void> {
    const occurredAt = this.clock.now().toISOString();
    await this.outbox.add(
      manager,
      events.map(({ emailId, type, detail = {} }) => this.message(emailId, type, detail, occurredAt)),
    );
  }

  /**
   * The event as an outbox INSERT for the statement that makes it true (see
   * `MailRequestsRepository.finishAttempt`): it is written if and only if that statement's change is.
   */
  insert(emailId: string, type: EmailEventType, detail: EmailEventDetail = {}): OutboxInsert {
    return this.outbox.insert([this.message(emailId, type, detail, this.clock.now().toISOString())]);
  }

  /** After the statement that carried an {@link insert} ran on `manager`: wakes the relay once its rows are committed. */
  written(manager: EntityManager): void {
    this.outbox.written(manager);
  }

  private message(emailId: string, type: EmailEventType, detail: EmailEventDetail, occurredAt: string): OutboxRecord {
    const event: EmailEventMessage = { version: CONTRACT_VERSION, eventId: this.ids.uuid(), type, emailId, occurredAt, detail };
    return { topic: this.topics.name(Topics.events), key: emailId, payload: event };
  }
}
