export { KafkaModule } from './kafka.module.js';
export {
  DEAD_LETTER_HEADROOM_BYTES,
  DEFAULT_DEAD_LETTER_RETENTION_MS,
  DEFAULT_TOPIC_PARTITIONS,
  defaultMinInsyncReplicas,
  defaultReplicationFactor,
  type KafkaModuleOptions,
  type KafkaSaslOptions,
} from './kafka.options.js';
export { KafkaClient } from './kafka-client.js';
export { KafkaProducer, type OutgoingRecord } from './kafka-producer.js';
export { KafkaConsumerRunner, type ConsumerState, type RunningConsumer } from './kafka-consumer.js';
export { BLOCKED_AFTER_FAILURES, type DeadLetterCounts } from './dead-letter-monitor.js';
export { UnknownMessageKindError, parseKafkaPayload } from './kafka-payload.js';
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
export {
  DeadLetterNotReplayableError,
  KafkaDeadLetters,
  type DeadLetterRecord,
  type DeadLetterTopicSummary,
  type TopicPosition,
} from './kafka-dead-letters.js';
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
