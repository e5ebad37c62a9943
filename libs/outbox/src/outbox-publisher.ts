/** A row of the outbox as the relay hands it to a transport. */
export interface OutboxMessage {
  id: string;
  topic: string;
  key: string;
  payload: unknown;
  headers: Record<string, string>;
}

/**
 * A transport for outbox rows. `publish()` must resolve only once every message is durably
 * accepted by the transport (for Kafka: acknowledged by all in-sync replicas), and must keep the
 * given order for messages of the same key.
 */
export interface OutboxPublisher {
  publish(messages: readonly OutboxMessage[]): Promise<void>;
  /**
   * True when `error` means the transport will never accept the message (too large, invalid
   * destination): the relay then dead-letters it. Everything else (broker down, timeouts) is
   * retried forever with back-off, because an outage must never turn messages into dead letters.
   */
  isPermanentFailure?(error: unknown): boolean;
}
