import { Inject, Injectable, Logger } from '@nestjs/common';
import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import { KAFKA_OPTIONS, type KafkaModuleOptions } from './kafka.options.js';

/** The one kafkajs client of an app, with its logs routed into Nest's logger. */
@Injectable()
export class KafkaClient {
  readonly kafka: Kafka;
  private readonly logger = new Logger('kafkajs');

  constructor(@Inject(KAFKA_OPTIONS) readonly options: KafkaModuleOptions) {
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      logLevel: logLevel.WARN,
      // Keep trying while a broker restarts; the relay and consumers retry on top of this.
      retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
      logCreator: () => (entry) => this.log(entry),
    });
  }

  private log({ level, namespace, log }: LogEntry): void {
    const { message, ...rest } = log;
    const text = `${namespace}: ${message} ${JSON.stringify(rest)}`;
    if (level <= logLevel.ERROR) this.logger.error(text);
    else if (level === logLevel.WARN) this.logger.warn(text);
    else this.logger.debug(text);
  }
}
