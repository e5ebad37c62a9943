import { describe, expect, it } from 'vitest';
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { isMessageRejected, isProducerStateLost, kafkaErrorTypes } from './kafka-errors.js';

// Broker errors built the way kafkajs builds them: a protocol error with a type, wrapped by the retrier.
const protocolError = (type: string, retriable: boolean) =>
  new KafkaJSProtocolError({ message: type, type, code: 0, retriable } as unknown as Error);
// kafkajs' retrier passes the broker error on as `cause`.
const wrapped = (inner: Error) => new (KafkaJSNonRetriableError as new (e: Error, o: { cause: Error }) => Error)(inner, { cause: inner });

describe('kafka error classification', () => {
  it('finds broker error types through kafkajs wrappers', () => {
    expect(kafkaErrorTypes(wrapped(protocolError('MESSAGE_TOO_LARGE', false)))).toEqual(['MESSAGE_TOO_LARGE']);
  });

  it('treats a message the broker can never accept as rejected', () => {
    expect(isMessageRejected(protocolError('MESSAGE_TOO_LARGE', false))).toBe(true);
    expect(isMessageRejected(wrapped(protocolError('INVALID_RECORD', false)))).toBe(true);
  });

  it('never treats producer-state or availability errors as a rejected message, though kafkajs calls some non-retriable', () => {
    const outOfOrder = protocolError('OUT_OF_ORDER_SEQUENCE_NUMBER', false);
    expect(isMessageRejected(outOfOrder)).toBe(false);
    expect(isProducerStateLost(outOfOrder)).toBe(true);
    expect(isProducerStateLost(wrapped(protocolError('UNKNOWN_PRODUCER_ID', false)))).toBe(true);

    const refused = new KafkaJSConnectionError('connect ECONNREFUSED');
    const brokerDown = new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 5, retryTime: 3_000, cause: refused } as never);
    expect(isMessageRejected(brokerDown)).toBe(false);
    expect(isProducerStateLost(brokerDown)).toBe(false);
    expect(isMessageRejected(wrapped(protocolError('NOT_LEADER_FOR_PARTITION', true)))).toBe(false);
  });
});
