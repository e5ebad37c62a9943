/** Delivery lanes: separate topics, consumer groups and queues, so bulk never delays transactional. */
export const LANES = ['transactional', 'bulk'] as const;
export type Lane = (typeof LANES)[number];

/**
 * Logical topic names. Deployments (and tests) may prefix them; see `KafkaTopics` in `@app/kafka`.
 */
export const Topics = {
  /** Email requests from business to mailer, one topic per lane, key = email id. */
  requests: {
    transactional: 'mail.requests.transactional',
    bulk: 'mail.requests.bulk',
  } satisfies Record<Lane, string>,
  /** Status events from mailer to business, key = email id. */
  events: 'mail.events',
  /** Suppression-list changes from business to mailer (an unsubscribe), key = address. */
  suppressions: 'mail.suppressions',
} as const;

/** Where a consumer puts a message it can never process. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** Headers a dead-lettered message carries, so an operator can see why and where from. */
export const DeadLetterHeaders = {
  reason: 'x-dead-letter-reason',
  code: 'x-dead-letter-code',
  sourceTopic: 'x-dead-letter-source-topic',
  sourcePartition: 'x-dead-letter-source-partition',
  sourceOffset: 'x-dead-letter-source-offset',
  consumerGroup: 'x-dead-letter-consumer-group',
} as const;

/** Every topic of the contract, with its dead-letter topic: what an app makes sure exists. */
export function contractTopics(): string[] {
  const base = [...Object.values(Topics.requests), Topics.events, Topics.suppressions];
  return [...base, ...base.map(deadLetterTopic)];
}
