import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { EmailClient, OnEmailEvent, type EmailEventContext, type EmailStatusEvent } from '@email-loop/nestjs';

/** The host's own feature: an order and its confirmation email commit together, or not at all. */
@Injectable()
export class OrdersService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly email: EmailClient,
  ) {}

  /** Places an order; with `fail` the transaction rolls back after `send()`, so no email may leave. */
  async place(orderId: string, to: string, fail = false): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const { id } = await this.email.send(
        { to, subject: `Order ${orderId}`, text: `We received order ${orderId}.`, metadata: { orderId } },
        { manager, idempotencyKey: `order:${orderId}` },
      );
      await manager.query(`INSERT INTO orders (id, email_id) VALUES ($1, $2)`, [orderId, id]);
      if (fail) throw new Error(`order ${orderId} refused after send()`);
    });
  }

  /** Runs in the transaction that applies the event: the outcome row commits exactly once. */
  @OnEmailEvent('email.sent')
  async recordSent(event: EmailStatusEvent<'email.sent'>, { manager }: EmailEventContext): Promise<void> {
    await manager.query(`INSERT INTO email_outcomes (event_id, email_id, order_id, type) VALUES ($1, $2, $3, $4)`, [
      event.eventId,
      event.emailId,
      event.email.metadata?.orderId ?? null,
      event.type,
    ]);
  }
}
