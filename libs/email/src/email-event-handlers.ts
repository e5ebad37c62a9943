import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { EntityManager } from 'typeorm';
import type { EmailEventDetail, EmailEventType, EmailStatus, Lane } from '@app/contracts';
import { providerMethods } from './provider-methods.js';

/** One status event about one of your emails, as your `@OnEmailEvent()` handlers receive it. */
export interface EmailStatusEvent<T extends EmailEventType = EmailEventType> {
  /** Unique per event; the same event is never handed to a handler twice in committed work. */
  eventId: string;
  type: T;
  emailId: string;
  /** When the mailer observed it (ISO 8601). */
  occurredAt: string;
  /** What the mailer reported: attempt, SMTP reply and code, message id, reason, … */
  detail: EmailEventDetail;
  /** The email after this event was applied. */
  email: {
    status: EmailStatus;
    attempt: number;
    lane: Lane;
    messageId: string | null;
    smtpResponse: string | null;
    metadata: Record<string, string> | null;
  };
  /**
   * False when the event arrived after a later one (it is recorded in the history but did not
   * move the email's status backwards), e.g. a `email.retrying` that lost a race with `email.sent`.
   */
  statusChanged: boolean;
}

/** What a handler gets besides the event. */
export interface EmailEventContext {
  /**
   * The transaction that applies the event. Write your own rows through it: they commit with
   * the event or not at all, so each event's effect happens exactly once.
   */
  manager: EntityManager;
}

type EmailEventHandlerMethod<T extends EmailEventType> = (
  event: EmailStatusEvent<T>,
  context: EmailEventContext,
) => unknown;

type EmailEventsHandlerMethod<T extends EmailEventType> = (
  events: EmailStatusEvent<T>[],
  context: EmailEventContext,
) => unknown;

const ON_EMAIL_EVENT = Symbol('email-loop:on-email-event');
const ON_EMAIL_EVENTS = Symbol('email-loop:on-email-events');

/**
 * Marks a method of one of your providers as a handler of email status events: all of them, or
 * only the types listed. It is called once per event, **inside the transaction that applies the
 * event**, after the email's status was updated:
 *
 * - events are applied in batches, one transaction per batch: each handler is called for the
 *   batch's events in the order they were consumed (per email, the order the mailer published them), after the status of
 *   every email in the batch was written. `event.email` and `event.statusChanged` are exactly
 *   what applying the events one at a time would give; but a handler that reads the `emails` row
 *   or its history through `context.manager` sees the batch's final state of the email, which can
 *   include later events of the same email. Use `event.email`, not a query, for the status after
 *   this event. With several handlers, the first one is called for every event of the batch
 *   before the next one is called;
 * - write to your database through `context.manager`: your rows commit atomically with the
 *   status, so a redelivered event (Kafka is at-least-once) changes nothing twice;
 * - if the handler throws, the whole transaction rolls back (the batch's other events with it) and the event is retried later
 *   (the status is not applied without your handler's effect): a transient error until it
 *   succeeds, a deterministic database error (class 22/23/42) 5 times before the event is
 *   dead-lettered (`mail.events.dlq`) and the status stays unapplied;
 * - for side effects outside the database (HTTP calls, other brokers), record the intent in a
 *   table here and act on it after commit; that is how the business app's webhooks work.
 *
 * ```ts
 * @Injectable()
 * export class OrderMail {
 *   @OnEmailEvent('email.sent', 'email.failed')
 *   async onOutcome(event: EmailStatusEvent<'email.sent' | 'email.failed'>, { manager }: EmailEventContext) {
 *     await manager.update(Order, { emailId: event.emailId }, { mailStatus: event.type });
 *   }
 * }
 * ```
 */
export function OnEmailEvent<T extends EmailEventType = EmailEventType>(...types: T[]) {
  return <M extends EmailEventHandlerMethod<T>>(
    _target: object,
    _key: string | symbol,
    descriptor: TypedPropertyDescriptor<M>,
  ): TypedPropertyDescriptor<M> => {
    Reflect.defineMetadata(ON_EMAIL_EVENT, types, descriptor.value as object);
    return descriptor;
  };
}

/**
 * `@OnEmailEvent()` for a whole batch: the method is called once per batch with the batch's
 * events of the types listed (all of them when none is listed), in order, never with an empty
 * list. Everything `OnEmailEvent` says holds; this form lets a handler write the effects of many
 * events in one statement.
 */
export function OnEmailEvents<T extends EmailEventType = EmailEventType>(...types: T[]) {
  return <M extends EmailEventsHandlerMethod<T>>(
    _target: object,
    _key: string | symbol,
    descriptor: TypedPropertyDescriptor<M>,
  ): TypedPropertyDescriptor<M> => {
    Reflect.defineMetadata(ON_EMAIL_EVENTS, types, descriptor.value as object);
    return descriptor;
  };
}

interface RegisteredHandler {
  name: string;
  /** Empty: every type. */
  types: ReadonlySet<EmailEventType>;
  /** Handles these events (never an empty list), one call per event or one for all. */
  call: (events: EmailStatusEvent[], context: EmailEventContext) => Promise<void>;
}

/** Finds the app's `@OnEmailEvent()` methods at start-up and calls the matching ones per event. */
@Injectable()
export class EmailEventHandlers implements OnModuleInit {
  private readonly logger = new Logger(EmailEventHandlers.name);
  private handlers: RegisteredHandler[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  onModuleInit(): void {
    const found: RegisteredHandler[] = [];
    for (const { name, instance, fn } of providerMethods(this.discovery, this.scanner)) {
      const types = Reflect.getMetadata(ON_EMAIL_EVENT, fn) as EmailEventType[] | undefined;
      if (types) {
        found.push({
          name,
          types: new Set(types),
          call: async (events, context) => {
            for (const event of events) await (fn as EmailEventHandlerMethod<EmailEventType>).call(instance, event, context);
          },
        });
      }
      const batchTypes = Reflect.getMetadata(ON_EMAIL_EVENTS, fn) as EmailEventType[] | undefined;
      if (batchTypes) {
        found.push({
          name,
          types: new Set(batchTypes),
          call: async (events, context) => {
            await (fn as EmailEventsHandlerMethod<EmailEventType>).call(instance, events, context);
          },
        });
      }
    }
    this.handlers = found;
    if (found.length > 0) this.logger.log(`email event handlers: ${found.map((h) => h.name).join(', ')}`);
  }

  /**
   * Calls every handler with the events of its types, in order, in the caller's transaction:
   * handler after handler, each for all its events before the next one starts.
   */
  async dispatchMany(events: readonly EmailStatusEvent[], context: EmailEventContext): Promise<void> {
    for (const handler of this.handlers) {
      const mine = handler.types.size === 0 ? [...events] : events.filter((e) => handler.types.has(e.type));
      if (mine.length > 0) await handler.call(mine, context);
    }
  }
}
