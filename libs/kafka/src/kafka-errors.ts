/**
 * Reading kafkajs errors. kafkajs wraps broker errors (`KafkaJSProtocolError`, with a `type`
 * such as `MESSAGE_TOO_LARGE`) in retry wrappers, and marks many of them non-retriable that are
 * nothing wrong with the message — so decisions look at the broker's error type, not at the
 * wrapper or its `retriable` flag.
 */

/** Broker error types found in `error` and its causes, outermost first. */
export function kafkaErrorTypes(error: unknown): string[] {
  const types: string[] = [];
  const seen = new Set<unknown>();
  for (let e: unknown = error; e && typeof e === 'object' && !seen.has(e); ) {
    seen.add(e);
    const candidate = e as { type?: unknown; originalError?: unknown; cause?: unknown };
    if (typeof candidate.type === 'string') types.push(candidate.type);
    e = candidate.originalError ?? candidate.cause;
  }
  return types;
}

/** The broker will never accept this message as it is: too large, or not a valid record/topic. */
const MESSAGE_REJECTED = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'INVALID_TOPIC_EXCEPTION']);

/**
 * The idempotent producer's id/sequence/epoch no longer matches the broker's (seen after a broker
 * restart cut a request off mid-flight). kafkajs cannot recover such a producer by itself; a new
 * one (a new producer id) can.
 */
const PRODUCER_STATE_LOST = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'DUPLICATE_SEQUENCE_NUMBER',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'UNKNOWN_PRODUCER_ID',
]);

export function isMessageRejected(error: unknown): boolean {
  return kafkaErrorTypes(error).some((type) => MESSAGE_REJECTED.has(type));
}

export function isProducerStateLost(error: unknown): boolean {
  return kafkaErrorTypes(error).some((type) => PRODUCER_STATE_LOST.has(type));
}
