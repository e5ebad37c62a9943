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
}
