import { Module, type DynamicModule } from '@nestjs/common';
import { KafkaClient } from './kafka-client.js';
import { KafkaProducer } from './kafka-producer.js';
import { KafkaConsumerRunner } from './kafka-consumer.js';
import { KafkaTopicAdmin } from './kafka-admin.js';
import { KafkaTopics } from './kafka-topics.js';
import { KafkaEventsTransport } from './transport/kafka-events.transport.js';
import { KAFKA_OPTIONS, type KafkaModuleOptions } from './kafka.options.js';

/**
 * Kafka wiring for one app: client, producer, consumer runner, topic names, admin, and the transport
 * that serves `@KafkaEvent()` handlers (`app.connectMicroservice({ strategy: app.get(KafkaEventsTransport) })`).
 */
@Module({})
export class KafkaModule {
  static forRoot(options: KafkaModuleOptions): DynamicModule {
    const providers = [KafkaClient, KafkaProducer, KafkaConsumerRunner, KafkaTopicAdmin, KafkaTopics, KafkaEventsTransport];
    return {
      module: KafkaModule,
      global: true,
      providers: [{ provide: KAFKA_OPTIONS, useValue: options }, ...providers],
      exports: providers,
    };
  }
}
