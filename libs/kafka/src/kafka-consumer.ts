import { Injectable, Logger } from '@nestjs/common';
import type { Consumer } from 'kafkajs';
import type { z } from 'zod';
import { describeError, sleep } from '@app/common';
import { KafkaClient } from './kafka-client.js';
import { KafkaProducer } from './kafka-producer.js';
import { KafkaTopicAdmin } from './kafka-admin.js';
import { PartitionProcessor, assertConsumerDefinition, type ConsumerDefinition } from './partition-processor.js';

/** Where a consumer stands: `running` once it joined its group, `down` while it cannot. */
export interface ConsumerState {
  groupId: string;
  state: 'starting' | 'running' | 'down' | 'stopped';
  /** Why it is down (the last error), if it is. */
  error?: string;
}

export interface RunningConsumer {
  readonly groupId: string;
  state(): ConsumerState;
  /** Stops fetching, hands paused and in-flight messages back uncommitted, commits, disconnects. */
  stop(): Promise<void>;
}

interface LaunchedConsumer {
  consumer: Consumer;
  processor: PartitionProcessor<z.ZodType>;
  /** Settles with the error when kafkajs stops this consumer and will not restart it itself. */
  stoppedByCrash: Promise<unknown>;
}

/** Resolves once the signal aborts (for racing against other waits). */
function abortion(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

const RELAUNCH_MAX_DELAY_MS = 5_000;

/**
 * Runs kafkajs consumers with the delivery rules this project relies on (see
 * {@link PartitionProcessor} for how each message is handled), and keeps them running:
 *
 * - `start()` returns at once; the consumer connects in the background and keeps trying while
 *   the broker is unreachable, so an app starts (and serves HTTP, and reports itself not ready)
 *   without Kafka;
 * - kafkajs restarts a crashed consumer only after a retriable error; one it stopped for good
 *   (seen after a broker restart: "Failed to find group coordinator") is replaced, with backoff;
 * - `state()` tells health checks whether the consumer is in its group.
 *
 * Nest's Kafka transport is not used: it commits past handler errors and unhandled events.
 */
@Injectable()
export class KafkaConsumerRunner {
  private readonly logger = new Logger(KafkaConsumerRunner.name);
  private readonly consumers = new Set<RunningConsumer>();

  constructor(
    private readonly client: KafkaClient,
    private readonly producer: KafkaProducer,
    private readonly admin: KafkaTopicAdmin,
  ) {}

  /** The state of every consumer this runner started and did not stop. */
  states(): ConsumerState[] {
    return [...this.consumers].map((c) => c.state());
  }

  /** Starts consuming in the background; throws at once if the definition cannot run (no handler, bad `maxBatchSize`). */
  start<S extends z.ZodType>(definition: ConsumerDefinition<S>): RunningConsumer {
    assertConsumerDefinition(definition);
    const stopping = new AbortController();
    const status: ConsumerState = { groupId: definition.groupId, state: 'starting' };
    const setState = (state: ConsumerState['state'], error?: unknown): void => {
      status.state = state;
      if (error === undefined) delete status.error;
      else status.error = describeError(error);
    };

    const supervision = (async (): Promise<LaunchedConsumer | undefined> => {
      let current: LaunchedConsumer | undefined;
      for (let failures = 0; !stopping.signal.aborted; ) {
        if (!current) {
          const launching = this.launch(definition, stopping.signal, setState);
          await Promise.race([launching.catch(() => undefined), abortion(stopping.signal)]);
          if (stopping.signal.aborted) {
            // Do not wait for a connect that may take long against a dead broker.
            void launching.then((c) => c.consumer.disconnect(), () => undefined).catch(() => undefined);
            return undefined;
          }
          try {
            current = await launching;
            failures = 0;
            this.logger.log(`consuming ${definition.topics.join(', ')} as ${definition.groupId}`);
          } catch (error) {
            failures++;
            setState('down', error);
            const delay = Math.min(RELAUNCH_MAX_DELAY_MS, 250 * 2 ** Math.min(failures, 10));
            this.logger.warn(`${definition.groupId}: consumer could not start (${failures}x), retrying in ${delay} ms: ${describeError(error)}`);
            await sleep(delay, stopping.signal);
            continue;
          }
        }
        const crash = await Promise.race([current.stoppedByCrash, abortion(stopping.signal)]);
        if (stopping.signal.aborted) break;
        setState('down', crash);
        this.logger.error(`${definition.groupId}: kafkajs stopped the consumer (${describeError(crash)}); starting a new one`);
        current.processor.close();
        await current.consumer.disconnect().catch(() => undefined);
        current = undefined;
      }
      return current;
    })();

    const running: RunningConsumer = {
      groupId: definition.groupId,
      state: () => ({ ...status }),
      stop: async () => {
        stopping.abort();
        const current = await supervision;
        current?.processor.close();
        await current?.consumer.disconnect();
        setState('stopped');
        this.consumers.delete(running);
      },
    };
    this.consumers.add(running);
    return running;
  }

  /** Creates the topics, then connects, subscribes and runs one kafkajs consumer. */
  private async launch<S extends z.ZodType>(
    definition: ConsumerDefinition<S>,
    stopping: AbortSignal,
    setState: (state: ConsumerState['state'], error?: unknown) => void,
  ): Promise<LaunchedConsumer> {
    await this.admin.ensureTopics([...(definition.createTopics ?? []), ...definition.topics]);
    const consumer = this.client.kafka.consumer({
      groupId: definition.groupId,
      allowAutoTopicCreation: false,
      // A crashed instance's partitions move to the others after this long: short, so recovery
      // is quick. Handlers never hold a batch while retrying (they pause the partition), so
      // heartbeats keep flowing.
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      // A fetch waits this long for new data; a partition resumed after a retry pause is fetched
      // again only when the fetch in progress returns, so this bounds the retry latency.
      maxWaitTimeInMs: 1_000,
    });
    const processor = new PartitionProcessor(definition, this.producer, stopping);
    const stoppedByCrash = new Promise<unknown>((resolve) => {
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        setState('down', payload.error);
        if (!payload.restart) resolve(payload.error);
      });
    });
    consumer.on(consumer.events.GROUP_JOIN, () => setState('running'));
    try {
      await consumer.connect();
      // A new group reads from the beginning: messages published before it first joined are not lost.
      await consumer.subscribe({ topics: definition.topics, fromBeginning: true });
      await consumer.run({
        autoCommit: true,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: definition.concurrency ?? 1,
        eachBatch: processor.eachBatch,
      });
    } catch (error) {
      processor.close();
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    return { consumer, processor: processor as PartitionProcessor<z.ZodType>, stoppedByCrash };
  }
}
