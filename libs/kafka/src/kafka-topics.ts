import { Inject, Injectable } from '@nestjs/common';
import { KAFKA_OPTIONS, type KafkaModuleOptions } from './kafka.options.js';

/** Maps logical topic and group names (from `@app/contracts`) to the names used on the broker. */
@Injectable()
export class KafkaTopics {
  private readonly prefix: string;

  constructor(@Inject(KAFKA_OPTIONS) options: KafkaModuleOptions) {
    this.prefix = options.topicPrefix ?? '';
  }

  name(logical: string): string {
    return `${this.prefix}${logical}`;
  }

  group(logical: string): string {
    return `${this.prefix}${logical}`;
  }
}
