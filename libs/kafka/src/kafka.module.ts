import { ConfigurableModuleBuilder, Module } from '@nestjs/common';
import { KafkaClient } from './kafka-client.js';
import { KafkaProducer } from './kafka-producer.js';
import { KafkaConsumerRunner } from './kafka-consumer.js';
import { KafkaTopicAdmin } from './kafka-admin.js';
import { KafkaTopics } from './kafka-topics.js';
import { KafkaEventsTransport } from './transport/kafka-events.transport.js';
import { KAFKA_OPTIONS, type KafkaModuleOptions } from './kafka.options.js';

const { ConfigurableModuleClass } = new ConfigurableModuleBuilder<KafkaModuleOptions>({ optionsInjectionToken: KAFKA_OPTIONS })
  .setClassMethodName('forRoot')
  .build();

const providers = [KafkaClient, KafkaProducer, KafkaConsumerRunner, KafkaTopicAdmin, KafkaTopics, KafkaEventsTransport];

/**
 * Kafka wiring for one app: client, producer, consumer runner, topic names, admin, and the transport
 * that serves `@KafkaEvent()` handlers (`app.connectMicroservice({ strategy: app.get(KafkaEventsTransport) })`).
 * `forRoot(options)` or `forRootAsync({ useFactory, inject, imports })`. Not global: import the
 * same module object wherever its providers are needed (another `forRoot` call is another client).
 */
@Module({ providers, exports: providers })
export class KafkaModule extends ConfigurableModuleClass {}
