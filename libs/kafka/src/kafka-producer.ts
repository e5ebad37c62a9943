import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Message, Producer } from 'kafkajs';
import { KafkaClient } from './kafka-client.js';
import { isProducerStateLost } from './kafka-errors.js';

export interface OutgoingRecord {
  topic: string;
  key: string;
  value: string | Buffer;
  headers?: Record<string, string>;
}

/**
 * The app's Kafka producer: idempotent, `acks: -1` (all in-sync replicas), one request in
 * flight so retries cannot reorder messages of the same partition. A `send()` resolves only
 * after the broker has acknowledged every record.
 *
 * When the broker no longer recognises the producer's sequence numbers (after a broker restart
 * cut a request off), the failed send is reported as usual and the next one goes through a new
 * producer: kafkajs cannot resynchronise an idempotent producer by itself.
 */
@Injectable()
export class KafkaProducer implements OnApplicationShutdown {
  private readonly logger = new Logger(KafkaProducer.name);
  private producer: Producer;
  private connecting?: Promise<void>;

  constructor(private readonly client: KafkaClient) {
    this.producer = this.create();
  }

  async send(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.connect();
    const producer = this.producer;
    const byTopic = new Map<string, Message[]>();
    for (const r of records) {
      const messages = byTopic.get(r.topic) ?? [];
      messages.push({ key: r.key, value: r.value, ...(r.headers ? { headers: r.headers } : {}) });
      byTopic.set(r.topic, messages);
    }
    try {
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } catch (error) {
      if (isProducerStateLost(error)) this.replace(producer);
      throw error;
    }
  }

  private create(): Producer {
    return this.client.producerKafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
  }

  /** Swaps in a new producer (a new producer id), unless a concurrent send already did. */
  private replace(broken: Producer): void {
    if (this.producer !== broken) return;
    this.logger.warn('the broker lost track of this producer (e.g. after a restart); continuing with a new producer');
    this.producer = this.create();
    this.connecting = undefined;
    void broken.disconnect().catch(() => undefined);
  }

  private connect(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((error: unknown) => {
      this.connecting = undefined; // let the next send try again
      throw error;
    });
    return this.connecting;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.connecting) await this.producer.disconnect();
  }
}
