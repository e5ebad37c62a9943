import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { Topics, contractTopics, emailEventMessageSchema, type EmailEventMessage } from '@app/contracts';
import { KafkaEvent, KafkaEventsTransport, type HandlerOutcome } from '@app/kafka';
import { EmailStatusService } from './email-status.service.js';
import { EMAIL_OPTIONS, type EmailModuleOptions } from './email.options.js';

const GROUP = 'business.email-events';

/**
 * Consumes `mail.events` and applies each one; invalid events go to `mail.events.dlq`. Registered
 * only when the module's `consumeEvents` is not `false`; served by `KafkaEventsTransport`.
 */
@Controller()
export class EmailEventsController {
  constructor(
    private readonly statuses: EmailStatusService,
    transport: KafkaEventsTransport,
    @Inject(EMAIL_OPTIONS) options: EmailModuleOptions,
  ) {
    // Configuration only (nothing starts here): set before any start-up order could let the
    // transport listen without it.
    transport.configureGroup(GROUP, { concurrency: options.eventConcurrency ?? 4 });
  }

  @KafkaEvent(Topics.events, { group: GROUP, schema: emailEventMessageSchema, description: 'email event', createTopics: contractTopics() })
  apply(@Payload() event: EmailEventMessage): Promise<HandlerOutcome> {
    return this.statuses.apply(event);
  }
}
