import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { IdGenerator } from '@app/common';
import { CONTRACT_VERSION, Topics, suppressionChangedMessageSchema, type SuppressionChangedMessage } from '@app/contracts';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter } from '@app/outbox';
import { EMAIL_OPTIONS, type EmailModuleOptions } from '../email.options.js';
import { EmailRepository } from '../email.repository.js';
import { InvalidUnsubscribeLinkError, UnsubscribeLinkExpiredError } from './unsubscribe.errors.js';
import { UnsubscribeHandlers, type RecipientUnsubscribedEvent } from './unsubscribe-handlers.js';
import { UnsubscribeLinks } from './unsubscribe-links.js';
import type { UnsubscribeLink } from './unsubscribe-tokens.js';
import { UnsubscribesRepository } from './unsubscribes.repository.js';

export interface UnsubscribeResult {
  /** Who the link unsubscribed (lower-case). */
  addresses: string[];
  /** The category they opted out of; null: every category. */
  category: string | null;
  /** The opt-outs recorded by this call: empty when all were recorded before (a repeated click). */
  recorded: RecipientUnsubscribedEvent[];
}

/**
 * Records what an unsubscribe link asks for. The host's endpoint calls `check()` to show a page
 * (never recording: link scanners follow GETs) and `unsubscribe()` for the one-click `POST`.
 *
 * Invariants: a token that does not verify records nothing; an opt-out is recorded once per
 * address and category (`unsubscribes`), and in the same transaction — only when it is new — a
 * `suppression.added` fact (reason `unsubscribed`) goes into the outbox for the mailer's
 * suppression list and the host's `@OnUnsubscribe()` handlers run; so a repeated click, or a
 * mailbox provider retrying its POST, changes nothing and publishes nothing.
 */
@Injectable()
export class UnsubscribeService {
  private readonly links: UnsubscribeLinks | null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly emails: EmailRepository,
    private readonly unsubscribes: UnsubscribesRepository,
    private readonly outbox: OutboxWriter,
    private readonly topics: KafkaTopics,
    private readonly ids: IdGenerator,
    private readonly handlers: UnsubscribeHandlers,
    @Inject(EMAIL_OPTIONS) options: EmailModuleOptions,
  ) {
    this.links = options.unsubscribe ? new UnsubscribeLinks(options.unsubscribe) : null;
  }

  /**
   * What the link stands for, without recording anything.
   *
   * @throws InvalidUnsubscribeLinkError when it is not a link this service signed.
   */
  check(token: string): UnsubscribeLink {
    const link = this.links?.verify(token);
    if (!link) throw new InvalidUnsubscribeLinkError();
    return link;
  }

  /**
   * Records the opt-out the link stands for (idempotent).
   *
   * @throws InvalidUnsubscribeLinkError when it is not a link this service signed.
   * @throws UnsubscribeLinkExpiredError for a link naming no recipient whose email retention deleted.
   */
  async unsubscribe(token: string): Promise<UnsubscribeResult> {
    const link = this.check(token);
    const category = link.category ?? null;
    return this.dataSource.transaction(async (manager) => {
      let recipients: readonly string[];
      if (link.address !== undefined) {
        recipients = [link.address];
      } else {
        const email = await this.emails.findById(manager, link.emailId);
        if (!email) throw new UnsubscribeLinkExpiredError(link.emailId);
        recipients = email.recipients.to;
      }
      const addresses = [...new Set(recipients.map((a) => a.toLowerCase()))];
      const rows = await this.unsubscribes.insertNew(
        manager,
        addresses.map((address) => ({ eventId: this.ids.uuid(), address, category, emailId: link.emailId })),
      );
      const recorded = rows.map((r) => ({
        eventId: r.eventId,
        address: r.address,
        category: r.category,
        emailId: r.emailId,
        occurredAt: r.createdAt.toISOString(),
      }));
      if (recorded.length > 0) {
        await this.outbox.add(
          manager,
          recorded.map((event) => ({ topic: this.topics.name(Topics.suppressions), key: event.address, payload: suppressionAdded(event) })),
        );
        await this.handlers.dispatch(recorded, { manager });
      }
      return { addresses, category, recorded };
    });
  }
}

/** The fact for the mailer, checked against the contract it consumes it with. */
function suppressionAdded(event: RecipientUnsubscribedEvent): SuppressionChangedMessage {
  return suppressionChangedMessageSchema.parse({
    version: CONTRACT_VERSION,
    eventId: event.eventId,
    type: 'suppression.added',
    address: event.address,
    ...(event.category !== null && { category: event.category }),
    reason: 'unsubscribed',
    emailId: event.emailId,
    occurredAt: event.occurredAt,
  });
}
