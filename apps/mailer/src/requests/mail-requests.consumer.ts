import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { LANES, Topics, contractTopics, emailRequestedMessageSchema, type Lane } from '@app/contracts';
import { KafkaConsumerRunner, KafkaTopics, type RunningConsumer } from '@app/kafka';
import { MailRequestsService } from './mail-requests.service.js';

/**
 * Consumes `mail.requests.<lane>`, one consumer group per lane so a bulk backlog never holds up
 * transactional mail. Invalid requests go to `<topic>.dlq`.
 */
@Injectable()
export class MailRequestsConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private running: RunningConsumer[] = [];

  constructor(
    private readonly runner: KafkaConsumerRunner,
    private readonly topics: KafkaTopics,
    private readonly service: MailRequestsService,
  ) {}

  /** Returns at once: the consumers connect in the background (the app starts without Kafka). */
  onApplicationBootstrap(): void {
    const concurrency: Record<Lane, number> = { transactional: 4, bulk: 2 };
    const allTopics = contractTopics().map((t) => this.topics.name(t));
    this.running = LANES.map((lane) =>
      this.runner.start({
        groupId: this.topics.group(`mailer.requests.${lane}`),
        topics: [this.topics.name(Topics.requests[lane])],
        createTopics: allTopics,
        schema: emailRequestedMessageSchema,
        description: 'email request',
        concurrency: concurrency[lane],
        handle: (request) => this.service.accept(request),
      }),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.running.map((c) => c.stop()));
  }
}
