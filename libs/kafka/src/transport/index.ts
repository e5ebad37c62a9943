export { KafkaEventsTransport, type KafkaEventOverrides } from './kafka-events.transport.js';
export { KafkaEvent, KAFKA_EVENTS_TRANSPORT, type KafkaBatchEventDecorator, type KafkaEventDecorator, type KafkaEventOptions } from './kafka-event.decorator.js';
export { KafkaEventContext } from './kafka-event.context.js';
export { UnrecognizedHandlerFailure } from './event-handler-invocation.js';
