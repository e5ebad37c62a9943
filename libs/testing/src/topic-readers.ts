import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { waitFor } from './wait-for.js';

export interface ReadMessage {
  value: string;
  headers: Record<string, string>;
}

/**
 * Reads what landed on a topic (e.g. dead letters) from its beginning, each time in a consumer
 * group of its own; `close()` disconnects every reader it started (call it after each test).
 */
export class TopicReaders {
  private readonly readers: Consumer[] = [];

  constructor(private readonly kafka: Kafka) {}

  /** Resolves with the topic's messages once at least `expected` of them were read. */
  async readAll(topic: string, expected: number, description = `${expected} messages on ${topic}`): Promise<ReadMessage[]> {
    const reader = this.kafka.consumer({ groupId: `${topic}-reader-${randomUUID()}` });
    this.readers.push(reader);
    const seen: ReadMessage[] = [];
    await reader.connect();
    await reader.subscribe({ topic, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        seen.push({ value: message.value?.toString() ?? '', headers });
      },
    });
    await waitFor(() => seen.length >= expected || undefined, { timeoutMs: 20_000, description });
    return seen;
  }

  async close(): Promise<void> {
    await Promise.all(this.readers.splice(0).map((reader) => reader.disconnect()));
  }
}
