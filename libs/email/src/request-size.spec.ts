import { describe, expect, it } from 'vitest';
import type { EmailRequestedMessage } from '@app/contracts';
import { KAFKA_RECORD_ALLOWANCE_BYTES, kafkaRecordSize } from './request-size.js';

describe('kafkaRecordSize', () => {
  const message = (text: string): EmailRequestedMessage => ({
    version: 1,
    type: 'email.requested',
    emailId: '7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d',
    requestedAt: '2026-11-23T10:00:00.000Z',
    lane: 'transactional',
    to: ['a@example.com'],
    subject: 'Hi',
    text,
  });

  it('is the UTF-8 length of the JSON the relay publishes, plus the record allowance', () => {
    const m = message('x');
    expect(kafkaRecordSize(m)).toBe(Buffer.byteLength(JSON.stringify(m)) + KAFKA_RECORD_ALLOWANCE_BYTES);
  });

  it('counts bytes, not characters', () => {
    const base = kafkaRecordSize(message(''));
    expect(kafkaRecordSize(message('a'.repeat(10)))).toBe(base + 10);
    expect(kafkaRecordSize(message('€'.repeat(10)))).toBe(base + 30);
    expect(kafkaRecordSize(message('😀'.repeat(10)))).toBe(base + 40); // 2 UTF-16 units, 4 bytes each
    expect(kafkaRecordSize(message('"\n'.repeat(10)))).toBe(base + 40); // escaped in JSON
  });
});
