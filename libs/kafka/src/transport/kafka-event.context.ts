import { BaseRpcContext } from '@nestjs/microservices';
import type { MessageContext } from '../partition-processor.js';

/**
 * What an `@KafkaEvent()` handler can know about the message it handles (inject it with
 * `@Ctx()`): where it came from (broker topic name, partition, offset), its key and headers, and
 * the logical topic (the handler's pattern).
 */
export class KafkaEventContext extends BaseRpcContext<[message: MessageContext, logicalTopic: string]> {
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
}
