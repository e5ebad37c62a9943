import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { Clock, IdGenerator } from '@app/common';
import { CONTRACT_VERSION, Topics, type EmailEventDetail, type EmailEventMessage, type EmailEventType } from '@app/contracts';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter, type OutboxInsert, type OutboxRecord } from '@app/outbox';

/** Records a status event in the mailer's outbox, inside the transaction that made it true. */
@Injectable()
export class MailEvents {
  constructor(
    private readonly outbox: OutboxWriter,
    private readonly topics: KafkaTopics,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
  ) {}

  async record(manager: EntityManager, emailId: string, type: EmailEventType, detail: EmailEventDetail = {}): Promise<void> {
    await this.outbox.add(manager, [this.message(emailId, type, detail)]);
  }

  /**
   * The event as an outbox INSERT for the statement that makes it true (see
   * `MailRequestsRepository.finishAttempt`): it is written if and only if that statement's change is.
   */
  insert(emailId: string, type: EmailEventType, detail: EmailEventDetail = {}): OutboxInsert {
    return this.outbox.insert([this.message(emailId, type, detail)]);
  }

  private message(emailId: string, type: EmailEventType, detail: EmailEventDetail): OutboxRecord {
    const event: EmailEventMessage = {
      version: CONTRACT_VERSION,
      eventId: this.ids.uuid(),
      type,
      emailId,
      occurredAt: this.clock.now().toISOString(),
      detail,
    };
    return { topic: this.topics.name(Topics.events), key: emailId, payload: event };
  }
}
