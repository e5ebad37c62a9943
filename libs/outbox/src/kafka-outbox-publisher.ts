import { Injectable } from '@nestjs/common';
import { KafkaProducer } from '@app/kafka';
import type { OutboxMessage, OutboxPublisher } from './outbox-publisher.js';

/** Publishes outbox rows to Kafka: topic and key from the row, value = JSON payload. */
@Injectable()
export class KafkaOutboxPublisher implements OutboxPublisher {
  constructor(private readonly producer: KafkaProducer) {}

  async publish(messages: readonly OutboxMessage[]): Promise<void> {
    await this.producer.send(
      messages.map((m) => ({
        topic: m.topic,
        key: m.key,
        value: JSON.stringify(m.payload),
        headers: { ...m.headers, 'x-outbox-id': m.id },
      })),
    );
  }

  /**
   * Permanent = the broker answered with a protocol error it marks non-retriable (message too
   * large, invalid topic, not authorised). kafkajs wraps such errors, and also wraps exhausted
   * retries of a *retriable* error (broker down) in a non-retriable error, so the decision looks
   * at the innermost broker error rather than the wrapper.
   */
  isPermanentFailure(error: unknown): boolean {
    for (let e: unknown = error, depth = 0; e && depth < 10; depth++) {
      const candidate = e as { name?: string; retriable?: boolean; type?: string; originalError?: unknown; cause?: unknown };
      if (candidate.name === 'KafkaJSProtocolError') return candidate.retriable === false;
      e = candidate.originalError ?? candidate.cause;
    }
    return false;
  }
}
