import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { Topics, contractTopics, emailEventMessageSchema, type EmailEventMessage } from '@app/contracts';
import { KafkaEvent, KafkaEventsTransport, type HandlerOutcome } from '@app/kafka';
import { EmailStatusService } from './email-status.service.js';
import { EMAIL_OPTIONS, type EmailModuleOptions } from './email.options.js';

/** The decorator's placeholder; the broker-level group is `<prefix><appName>.email-events`. */
const GROUP = 'email-events';

/**
 * Consumes `mail.events` and applies runs of consecutive events of one partition, one transaction
 * per run (`EmailStatusService.applyBatch`); invalid events go to `mail.events.dlq`. A run that
 * fails (a handler's error, or one event naming an unknown email, which fails the whole run) is
 * applied again one event at a time by the transport, so only the failing event is retried or
 * dead-lettered. Served by `KafkaEventsTransport`; with the module's `consumeEvents: false` this
 * instance does not consume.
 */
@Controller()
export class EmailEventsController {
  constructor(
    private readonly statuses: EmailStatusService,
    transport: KafkaEventsTransport,
    @Inject(EMAIL_OPTIONS) options: EmailModuleOptions,
  ) {
    // Configuration only (nothing starts here): set before any start-up order could let the
    // transport listen without it. The group is the host's (two apps on one broker each get every
    // event of their own prefix, never each other's).
    transport.configureGroup(GROUP, {
      group: `${options.appName}.${GROUP}`,
      concurrency: options.eventConcurrency ?? 4,
      ...(options.eventBatchSize !== undefined && { maxBatchSize: options.eventBatchSize }),
      enabled: options.consumeEvents !== false,
    });
  }

  @KafkaEvent(Topics.events, {
    group: GROUP,
    schema: emailEventMessageSchema,
    description: 'email event',
    createTopics: contractTopics(),
    batch: true,
  })
  apply(@Payload() events: EmailEventMessage[]): Promise<HandlerOutcome[]> {
    return this.statuses.applyBatch(events);
  }
}
