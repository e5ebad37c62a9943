import { Module, type DynamicModule } from '@nestjs/common';
import { KafkaClient } from './kafka-client.js';
import { KafkaProducer } from './kafka-producer.js';
import { KafkaConsumerRunner } from './kafka-consumer.js';
import { KafkaTopicAdmin } from './kafka-admin.js';
import { KafkaTopics } from './kafka-topics.js';
import { KAFKA_OPTIONS, type KafkaModuleOptions } from './kafka.options.js';

/** Kafka wiring for one app: client, producer, consumer runner, topic names and admin. */
@Module({})
export class KafkaModule {
  static forRoot(options: KafkaModuleOptions): DynamicModule {
    const providers = [KafkaClient, KafkaProducer, KafkaConsumerRunner, KafkaTopicAdmin, KafkaTopics];
    return {
      module: KafkaModule,
      global: true,
      providers: [{ provide: KAFKA_OPTIONS, useValue: options }, ...providers],
      exports: providers,
    };
  }
}
