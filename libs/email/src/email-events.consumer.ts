import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Topics, contractTopics, emailEventMessageSchema } from '@app/contracts';
import { KafkaConsumerRunner, KafkaTopicAdmin, KafkaTopics, type RunningConsumer } from '@app/kafka';
import { EmailStatusService } from './email-status.service.js';
import { EMAIL_OPTIONS, type EmailModuleOptions } from './email.options.js';

/** Consumes `mail.events` and applies each one; invalid events go to `mail.events.dlq`. */
@Injectable()
export class EmailEventsConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private running?: RunningConsumer;

  constructor(
    private readonly runner: KafkaConsumerRunner,
    private readonly admin: KafkaTopicAdmin,
    private readonly topics: KafkaTopics,
    private readonly statuses: EmailStatusService,
    @Inject(EMAIL_OPTIONS) private readonly options: EmailModuleOptions,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.admin.ensureTopics(contractTopics().map((t) => this.topics.name(t)));
    if (this.options.consumeEvents === false) return;
    this.running = await this.runner.start({
      groupId: this.topics.group('business.email-events'),
      topics: [this.topics.name(Topics.events)],
      schema: emailEventMessageSchema,
      description: 'email event',
      concurrency: this.options.eventConcurrency ?? 4,
      handle: (event) => this.statuses.apply(event),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.running?.stop();
  }
}
