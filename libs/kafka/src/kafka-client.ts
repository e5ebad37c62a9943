import { Inject, Injectable, Logger } from '@nestjs/common';
import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import { redactSecrets } from '@app/common';
import { KAFKA_OPTIONS, type KafkaModuleOptions } from './kafka.options.js';

/**
 * The producer's kafkajs settings: bounded, so a send settles (resolves or rejects) within about
 * `(retries + 1) × (connectionTimeout + 2 × requestTimeout) + back-off` ≈ 35 s even against a
 * broker that accepts connections and never answers, and within a few seconds against one that
 * is down. kafkajs's defaults (30 s requests, 5 retries) could keep one send alive for minutes.
 */
const PRODUCER_SETTINGS = {
  connectionTimeout: 1_000,
  requestTimeout: 5_000,
  retry: { initialRetryTime: 200, retries: 2, maxRetryTime: 2_000 },
};

/**
 * The kafkajs clients of an app, with their logs routed into Nest's logger: `kafka` for
 * consumers and admin (patient: keeps trying while a broker restarts, the consumer runner retries
 * on top), `producerKafka` for the producer, whose retries and timeouts are bounded (see
 * {@link PRODUCER_SETTINGS}): the outbox relay holds its rows until a send settles.
 */
@Injectable()
export class KafkaClient {
  readonly kafka: Kafka;
  readonly producerKafka: Kafka;
  private readonly logger = new Logger('kafkajs');

  constructor(@Inject(KAFKA_OPTIONS) readonly options: KafkaModuleOptions) {
    const common = {
      clientId: options.clientId,
      brokers: options.brokers,
      ...(options.ssl !== undefined && { ssl: options.ssl }),
      ...(options.sasl !== undefined && { sasl: options.sasl }),
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => this.log(entry),
    };
    this.kafka = new Kafka({ ...common, retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 } });
    this.producerKafka = new Kafka({ ...common, ...PRODUCER_SETTINGS });
  }

  private log({ level, namespace, log }: LogEntry): void {
    const { message, ...rest } = log;
    // kafkajs adds its context (broker, error, stack) to each entry: printed without credentials.
    const text = redactSecrets(`${namespace}: ${message} ${JSON.stringify(rest)}`);
    if (level <= logLevel.ERROR) this.logger.error(text);
    else if (level === logLevel.WARN) this.logger.warn(text);
    else this.logger.debug(text);
  }
}
