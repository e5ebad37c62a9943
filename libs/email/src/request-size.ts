import { Buffer } from 'node:buffer';
import type { EmailRequestedMessage } from '@app/contracts';

/**
 * What a Kafka record adds to its value, rounded up generously: the record batch header (61
 * bytes; a batch may hold this record alone), the record's varint framing (≤ 28 bytes), the key
 * (the email id, 36 bytes) and `KafkaOutboxPublisher`'s `x-outbox-id` header (≤ 32 bytes): at
 * most 157 bytes.
 */
export const KAFKA_RECORD_ALLOWANCE_BYTES = 512;

/**
 * Bytes the broker counts against `message.max.bytes` for the record the outbox relay publishes
 * for `message`: its value is `JSON.stringify(payload)` in UTF-8. The payload makes a round trip
 * through a `jsonb` column first, which may reorder its keys but leaves the length unchanged.
 */
export function kafkaRecordSize(message: EmailRequestedMessage): number {
  return Buffer.byteLength(JSON.stringify(message), 'utf8') + KAFKA_RECORD_ALLOWANCE_BYTES;
}
