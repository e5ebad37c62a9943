import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DataSource, type EntityManager, type EntitySubscriberInterface, type QueryRunner, type TransactionCommitEvent, type TransactionRollbackEvent } from 'typeorm';
import { STATUS_OF_EVENT } from '@app/contracts';
import { OnEmailEvents, OnUnsubscribe, type EmailEventContext, type EmailStatusEvent, type RecipientUnsubscribedEvent, type UnsubscribeContext } from '@app/email';
import type { WebhookEvent } from '@app/webhooks';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WebhookJobSweeper } from './webhook-job-sweeper.js';
import { WebhookQueue } from './webhook-queue.js';

/** Jobs added per `addBulk` call. */
const ENQUEUE_CHUNK = 1_000;

/** The webhook body of an applied status event: built once, stored, sent byte for byte on every attempt. */
export function webhookPayloadOf(event: EmailStatusEvent): string {
  const { detail } = event;
  const body: WebhookEvent = {
    type: event.type,
    timestamp: event.occurredAt,
    data: {
      emailId: event.emailId,
      // What this event reports, also when it arrived late and did not move the email's status.
      status: STATUS_OF_EVENT[event.type],
      eventId: event.eventId,
      attempt: detail.attempt,
      messageId: detail.messageId ?? event.email.messageId ?? undefined,
      smtpResponse: detail.smtpResponse,
      smtpCode: detail.smtpCode,
      reason: detail.reason,
      rejectedRecipients: detail.rejectedRecipients,
      nextAttemptAt: detail.nextAttemptAt,
      metadata: event.email.metadata ?? undefined,
    },
  };
  return JSON.stringify(body); // undefined fields are left out
}

/** The webhook body of a recorded opt-out (`recipient.unsubscribed`). */
export function unsubscribePayloadOf(event: RecipientUnsubscribedEvent): string {
  const body: WebhookEvent = {
    type: 'recipient.unsubscribed',
    timestamp: event.occurredAt,
    data: {
      emailId: event.emailId,
      status: 'unsubscribed',
      eventId: event.eventId,
      address: event.address,
      category: event.category ?? undefined,
    },
  };
  return JSON.stringify(body);
}

/**
 * Turns every applied status event into one delivery per enabled endpoint subscribed to its
 * type, **in the transaction that applies the event** (`@OnEmailEvents`, one statement per batch
 * of events): the event and its deliveries commit together or not at all, and a redelivered
 * event creates none twice (`UNIQUE (endpoint_id, event_id)`).
 *
 * The jobs are added after the commit (a TypeORM transaction subscriber), never inside the
 * transaction: the Kafka handler never waits for Redis, and a job never names a delivery that
 * was rolled back. They are added in bulk (`addBulk`, one Redis round trip for all the deliveries
 * of a transaction). Adding them is best effort (at-least-once comes from PostgreSQL): the sweeper
 * creates whatever could not be added, and a job id is the delivery id, so a job added twice is one.
 */
@Injectable()
export class WebhookFanoutService implements OnModuleInit, EntitySubscriberInterface {
  private readonly logger = new Logger(WebhookFanoutService.name);
  /** Deliveries created in a transaction that has not committed yet, by its query runner. */
  private readonly uncommitted = new WeakMap<QueryRunner, string[]>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly queue: WebhookQueue,
    private readonly sweeper: WebhookJobSweeper,
  ) {}

  onModuleInit(): void {
    // TypeORM's way to hear about commits of transactions it runs (`dataSource.transaction`).
    this.dataSource.subscribers.push(this);
  }

  @OnEmailEvents()
  async onEmailEvents(events: EmailStatusEvent[], { manager }: EmailEventContext): Promise<void> {
    const created = await this.deliveries.createForEvents(
      manager,
      events.map((event) => ({ eventId: event.eventId, emailId: event.emailId, type: event.type, payload: webhookPayloadOf(event) })),
    );
    this.afterCommit(manager, created);
  }

  /** An opt-out, the same way: its deliveries commit with it (`recipient.unsubscribed`). */
  @OnUnsubscribe()
  async onUnsubscribe(event: RecipientUnsubscribedEvent, { manager }: UnsubscribeContext): Promise<void> {
    const created = await this.deliveries.createForEvents(manager, [
      { eventId: event.eventId, emailId: event.emailId, type: 'recipient.unsubscribed', payload: unsubscribePayloadOf(event) },
    ]);
    this.afterCommit(manager, created);
  }

  /** Enqueues the deliveries' jobs once the transaction that created them committed. */
  private afterCommit(manager: EntityManager, created: string[]): void {
    const runner = manager.queryRunner;
    if (created.length === 0) return;
    if (!runner) {
      this.sweeper.sweepSoon(); // not in a transaction we can observe: let the sweeper pick them up
      return;
    }
    this.uncommitted.set(runner, [...(this.uncommitted.get(runner) ?? []), ...created]);
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    // A released savepoint is not a commit: wait for the outermost transaction.
    if (event.queryRunner.isTransactionActive) return;
    const ids = this.uncommitted.get(event.queryRunner);
    if (!ids) return;
    this.uncommitted.delete(event.queryRunner);
    void this.enqueue(ids); // never holds up the caller (the Kafka handler)
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    if (!event.queryRunner.isTransactionActive) this.uncommitted.delete(event.queryRunner);
  }

  private async enqueue(ids: string[]): Promise<void> {
    try {
      // One Redis round trip per chunk; a chunk bounds the size of one MULTI.
      for (let i = 0; i < ids.length; i += ENQUEUE_CHUNK) await this.queue.enqueueMany(ids.slice(i, i + ENQUEUE_CHUNK));
    } catch (error) {
      this.logger.debug(`webhook jobs left to the sweeper: ${error instanceof Error ? error.message : String(error)}`);
      this.sweeper.sweepSoon();
    }
  }
}
