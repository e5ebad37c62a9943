import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { EntityManager } from 'typeorm';
import { providerMethods } from '../provider-methods.js';

/** A recipient opted out through the unsubscribe link of one of your emails. */
export interface RecipientUnsubscribedEvent {
  /** Unique per opt-out; also the `eventId` of the `suppression.added` fact sent to the mailer. */
  eventId: string;
  /** Lower-case. */
  address: string;
  /** The category opted out of; null: every category (the email had none). */
  category: string | null;
  /** The email whose link was used. */
  emailId: string;
  /** When it was recorded (ISO 8601). */
  occurredAt: string;
}

/** What an unsubscribe handler gets besides the event. */
export interface UnsubscribeContext {
  /** The transaction that records the opt-out: your rows commit with it or not at all. */
  manager: EntityManager;
}

type UnsubscribeHandlerMethod = (event: RecipientUnsubscribedEvent, context: UnsubscribeContext) => unknown;

const ON_UNSUBSCRIBE = Symbol('email-loop:on-unsubscribe');

/**
 * Marks a method of one of your providers as a handler of opt-outs: it is called once per new
 * opt-out (address and category), **inside the transaction that records it**, so a row you write
 * through `context.manager` commits with the opt-out; a repeated click on the same link records
 * nothing and calls nothing. If it throws, nothing is recorded and the request fails (the mailbox
 * provider retries it).
 *
 * ```ts
 * @OnUnsubscribe()
 * async optOut(event: RecipientUnsubscribedEvent, { manager }: UnsubscribeContext) {
 *   await manager.update(Customer, { email: event.address }, { newsletter: false });
 * }
 * ```
 */
export function OnUnsubscribe() {
  return <M extends UnsubscribeHandlerMethod>(
    _target: object,
    _key: string | symbol,
    descriptor: TypedPropertyDescriptor<M>,
  ): TypedPropertyDescriptor<M> => {
    Reflect.defineMetadata(ON_UNSUBSCRIBE, true, descriptor.value as object);
    return descriptor;
  };
}

/** Finds the app's `@OnUnsubscribe()` methods at start-up and calls them per opt-out. */
@Injectable()
export class UnsubscribeHandlers implements OnModuleInit {
  private readonly logger = new Logger(UnsubscribeHandlers.name);
  private handlers: { name: string; call: UnsubscribeHandlerMethod }[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  onModuleInit(): void {
    this.handlers = providerMethods(this.discovery, this.scanner)
      .filter(({ fn }) => Reflect.getMetadata(ON_UNSUBSCRIBE, fn) === true)
      .map(({ name, instance, fn }) => ({ name, call: (event, context) => fn.call(instance, event, context) }));
    if (this.handlers.length > 0) this.logger.log(`unsubscribe handlers: ${this.handlers.map((h) => h.name).join(', ')}`);
  }

  /** Calls every handler for every event, in order, in the caller's transaction. */
  async dispatch(events: readonly RecipientUnsubscribedEvent[], context: UnsubscribeContext): Promise<void> {
    for (const handler of this.handlers) {
      for (const event of events) await handler.call(event, context);
    }
  }
}
