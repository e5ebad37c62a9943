import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Topics, contractTopics, emailEventMessageSchema } from '@app/contracts';
import { KafkaConsumerRunner, KafkaTopics, type RunningConsumer } from '@app/kafka';
import { EmailStatusService } from './email-status.service.js';
import { EMAIL_OPTIONS, type EmailModuleOptions } from './email.options.js';

/** Consumes `mail.events` and applies each one; invalid events go to `mail.events.dlq`. */
@Injectable()
export class EmailEventsConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private running?: RunningConsumer;

  constructor(
    private readonly runner: KafkaConsumerRunner,
    private readonly topics: KafkaTopics,
    private readonly statuses: EmailStatusService,
    @Inject(EMAIL_OPTIONS) private readonly options: EmailModuleOptions,
  ) {}

  /** Returns at once: the consumer connects in the background (the app starts without Kafka). */
  onApplicationBootstrap(): void {
    if (this.options.consumeEvents === false) return;
    this.running = this.runner.start({
      groupId: this.topics.group(`${this.options.appName}.email-events`),
      topics: [this.topics.name(Topics.events)],
      createTopics: contractTopics().map((t) => this.topics.name(t)),
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
