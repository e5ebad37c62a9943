import { BaseRpcContext } from '@nestjs/microservices';
import type { MessageContext } from '../partition-processor.js';

/**
 * What an `@KafkaEvent()` handler can know about the message it handles (inject it with
 * `@Ctx()`): where it came from (broker topic name, partition, offset), its key and headers, and
 * the logical topic (the handler's pattern).
 *
 * For a `batch: true` handler the context describes the whole run: `getMessages()` lists every
 * message in offset order (one per payload, same index); the single-message getters describe the
 * first of them (topic and partition are the same for all).
 */
export class KafkaEventContext extends BaseRpcContext<[message: MessageContext, logicalTopic: string, batch?: readonly MessageContext[]]> {
  /** A context for a run of messages of one partition (a `batch: true` handler's call). */
  static forBatch(messages: readonly MessageContext[], logicalTopic: string): KafkaEventContext {
    const [first] = messages;
    if (!first) throw new Error('a batch context needs at least one message');
    return new KafkaEventContext([first, logicalTopic, messages]);
  }

  /** The broker-level topic name (with the deployment's prefix). */
  getTopic(): string {
    return this.args[0].topic;
  }

  /** The logical topic name from `@app/contracts`, i.e. the handler's pattern. */
  getLogicalTopic(): string {
    return this.args[1];
  }

  getPartition(): number {
    return this.args[0].partition;
  }

  getOffset(): string {
    return this.args[0].offset;
  }

  getKey(): string | null {
    return this.args[0].key;
  }

  getHeaders(): Readonly<Record<string, string>> {
    return this.args[0].headers;
  }

  /** Everything above as one object (what the consumer runner passes to its handlers). */
  getMessage(): Readonly<MessageContext> {
    return this.args[0];
  }

  /** Every message of the call, in offset order: the run of a batch handler, or the one message. */
  getMessages(): readonly Readonly<MessageContext>[] {
    return this.args[2] ?? [this.args[0]];
  }

  /** Whether this is the context of a `batch: true` handler's call. */
  isBatch(): boolean {
    return this.args[2] !== undefined;
  }
}
