export { KafkaModule } from './kafka.module.js';
export { DEFAULT_TOPIC_PARTITIONS, defaultMinInsyncReplicas, defaultReplicationFactor, type KafkaModuleOptions, type KafkaSaslOptions } from './kafka.options.js';
export { KafkaClient } from './kafka-client.js';
export { KafkaProducer, type OutgoingRecord } from './kafka-producer.js';
export { KafkaConsumerRunner, type ConsumerState, type RunningConsumer } from './kafka-consumer.js';
export {
  BatchOutcomeMismatchError,
  classifyFailure,
  decodeHeaders,
  type BatchItem,
  type ConsumerDefinition,
  type FailureKind,
  type HandlerOutcome,
  type MessageContext,
} from './partition-processor.js';
export { KafkaTopicAdmin, TopicReplicationError, TOPIC_MESSAGE_MAX_AGE_DAYS, type TopicReplication } from './kafka-admin.js';
export { KafkaTopics } from './kafka-topics.js';
export { isMessageRejected, isProducerStateLost, kafkaErrorTypes } from './kafka-errors.js';
export {
  KafkaEvent,
  KafkaEventContext,
  KafkaEventsTransport,
  KAFKA_EVENTS_TRANSPORT,
  UnrecognizedHandlerFailure,
  type KafkaBatchEventDecorator,
  type KafkaEventDecorator,
  type KafkaEventOptions,
  type KafkaEventOverrides,
} from './transport/index.js';
