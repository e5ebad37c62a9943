import 'reflect-metadata';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Catch,
  Controller,
  Injectable,
  Module,
  UseFilters,
  UseGuards,
  UseInterceptors,
  UsePipes,
  type ArgumentsHost,
  type CallHandler,
  type INestMicroservice,
  type ExceptionFilter,
  type NestInterceptor,
  type PipeTransform,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, Payload, RpcException } from '@nestjs/microservices';
import { catchError, map, of, throwError, type Observable } from 'rxjs';
import { z } from 'zod';
import { InvalidInputError, TransientError } from '@app/common';
import type { KafkaConsumerRunner, RunningConsumer } from '../kafka-consumer.js';
import { KafkaTopics } from '../kafka-topics.js';
import { BatchOutcomeMismatchError, classifyFailure, type ConsumerDefinition, type HandlerOutcome, type MessageContext } from '../partition-processor.js';
import { UnrecognizedHandlerFailure } from './event-handler-invocation.js';
import { KafkaEvent } from './kafka-event.decorator.js';
import { KafkaEventContext } from './kafka-event.context.js';
import { KafkaEventsTransport } from './kafka-events.transport.js';

const schema = z.object({ n: z.number(), fail: z.enum(['poison', 'transient', 'plain', 'deterministic']).optional() });
type Payload = z.output<typeof schema>;

/** What the handlers throw, by the payload's `fail`. */
function failOrReturn(payload: Payload): HandlerOutcome | undefined {
  switch (payload.fail) {
    case 'poison':
      throw new InvalidInputError('never valid');
    case 'transient':
      throw new TransientError('database away');
    case 'deterministic':
      throw Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
    case 'plain':
      throw new Error('something broke');
    default:
      return undefined;
  }
}

/** Turns every error into an RpcException (a typical user filter). */
@Catch()
class ToRpcExceptionFilter implements ExceptionFilter {
  catch(): Observable<never> {
    return throwError(() => new RpcException('mapped by the filter'));
  }
}

/** Logs and returns nothing: "swallows" the error without an outcome. */
@Catch()
class SilentFilter implements ExceptionFilter {
  readonly seen: unknown[] = [];
  catch(error: unknown): void {
    this.seen.push(error);
  }
}
const silent = new SilentFilter();

/** Decides explicitly that a failed message is done with: returns an outcome. */
@Catch(InvalidInputError)
class SkipInvalidFilter implements ExceptionFilter {
  catch(_error: InvalidInputError, _host: ArgumentsHost): Observable<HandlerOutcome> {
    return of('skipped');
  }
}

/** An outer interceptor that replaces every error by a non-retriable one and maps results. */
@Injectable()
class RewritingInterceptor implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      map((value: unknown) => value ?? 'duplicate'),
      catchError(() => throwError(() => new InvalidInputError('rewritten by the interceptor'))),
    );
  }
}

class DoublingPipe implements PipeTransform {
  transform(value: unknown): unknown {
    const payload = value as Payload;
    if (payload.n < 0) throw new InvalidInputError('negative');
    return { ...payload, n: payload.n * 2 };
  }
}

let observableCalls = 0;
const seen: { n: number; topic: string; offset: string; key: string | null; logical: string }[] = [];

@Controller()
class PlainController {
  @KafkaEvent('t.plain', { group: 'g.plain', schema, description: 'plain', concurrency: 3, createTopics: ['t.plain', 't.other'] })
  handle(@Payload() payload: Payload, @Ctx() context: KafkaEventContext): HandlerOutcome | undefined {
    seen.push({ n: payload.n, topic: context.getTopic(), offset: context.getOffset(), key: context.getKey(), logical: context.getLogicalTopic() });
    return failOrReturn(payload);
  }

  @KafkaEvent('t.plain', { group: 'g.observable', schema, description: 'observable' })
  observable(@Payload() payload: Payload): Observable<HandlerOutcome> {
    observableCalls++;
    return payload.fail ? throwError(() => new InvalidInputError('from a stream')) : of('duplicate');
  }

  /** Not for this transport: a plain pattern with no transport is left to others. */
  @EventPattern('t.untyped')
  untyped(_data: unknown): void {}
}

@Controller()
@UseFilters(new ToRpcExceptionFilter())
@UseInterceptors(RewritingInterceptor)
class FilteredController {
  @KafkaEvent('t.filtered', { group: 'g.filtered', schema, description: 'filtered' })
  @UsePipes(new DoublingPipe())
  handle(@Payload() payload: Payload): HandlerOutcome | undefined {
    seen.push({ n: payload.n, topic: 'filtered', offset: '', key: null, logical: '' });
    return failOrReturn(payload);
  }
}

@Controller()
class SwallowingController {
  @KafkaEvent('t.silent', { group: 'g.silent', schema, description: 'silent' })
  @UseFilters(silent)
  silent(@Payload() payload: Payload): HandlerOutcome | undefined {
    return failOrReturn(payload);
  }

  @KafkaEvent('t.skip', { group: 'g.skip', schema, description: 'skip' })
  @UseFilters(new SkipInvalidFilter())
  skip(@Payload() payload: Payload): HandlerOutcome | undefined {
    return failOrReturn(payload);
  }

  @KafkaEvent('t.guarded', { group: 'g.guarded', schema, description: 'guarded' })
  @UseGuards({ canActivate: () => false })
  guarded(): HandlerOutcome {
    return 'processed';
  }
}

@Module({ controllers: [PlainController, FilteredController, SwallowingController], providers: [RewritingInterceptor] })
class TestModule {}

/** A stand-in for the consumer runner: records what the transport asks it to run. */
class RecordingRunner {
  readonly definitions: ConsumerDefinition<z.ZodType>[] = [];
  readonly stopped: string[] = [];
  start(definition: ConsumerDefinition<z.ZodType>): RunningConsumer {
    this.definitions.push(definition);
    return {
      groupId: definition.groupId,
      state: () => ({ groupId: definition.groupId, state: 'running' }),
      stop: async () => {
        this.stopped.push(definition.groupId);
      },
    };
  }
}

/** How the partition processor would treat what `handle()` or `handleBatch()` rejected with. */
async function failureOf(result: Promise<unknown>): Promise<{ error: unknown; kind: string }> {
  const error = await result.then(
    () => expect.fail('the message was settled as a success'),
    (e: unknown) => e,
  );
  return { error, kind: classifyFailure(error) };
}

/**
 * The transport without a broker: which handlers it serves, with which settings, and how what a
 * handler does (through Nest's pipes, guards, interceptors and filters) becomes an outcome or a
 * failure the partition processor classifies.
 */
describe('KafkaEventsTransport', () => {
  let microservice: INestMicroservice | undefined;
  afterEach(async () => {
    await microservice?.close();
    microservice = undefined;
    seen.length = 0;
  });

  async function start(): Promise<{ runner: RecordingRunner; transport: KafkaEventsTransport; handle: (group: string, payload: Payload) => Promise<HandlerOutcome> }> {
    const runner = new RecordingRunner();
    const transport = new KafkaEventsTransport(runner as unknown as KafkaConsumerRunner, new KafkaTopics({ brokers: [], clientId: 'x', topicPrefix: 'p.' }));
    transport.configureGroup('g.observable', { concurrency: 7 });
    microservice = await NestFactory.createMicroservice(TestModule, { strategy: transport, logger: false });
    await microservice.listen();
    let offset = 0;
    const handle = (group: string, payload: Payload): Promise<HandlerOutcome> => {
      const definition = runner.definitions.find((d) => d.groupId === `p.${group}`);
      if (!definition) throw new Error(`no consumer for ${group}`);
      const message: MessageContext = { topic: definition.topics[0]!, partition: 0, offset: String(offset++), key: `k${payload.n}`, headers: {} };
      return definition.handle!(schema.parse(payload), message);
    };
    return { runner, transport, handle };
  }

  it('starts one consumer per @KafkaEvent handler (not for a plain @EventPattern), with broker names, and stops them all on close', async () => {
    const { runner } = await start();
    const byGroup = Object.fromEntries(runner.definitions.map((d) => [d.groupId, d]));
    expect(Object.keys(byGroup).sort()).toEqual(['p.g.filtered', 'p.g.guarded', 'p.g.observable', 'p.g.plain', 'p.g.silent', 'p.g.skip']);
    expect(byGroup['p.g.plain']).toMatchObject({ topics: ['p.t.plain'], createTopics: ['p.t.plain', 'p.t.other'], concurrency: 3, description: 'plain' });
    expect(byGroup['p.g.plain']!.schema).toBe(schema);
    expect(byGroup['p.g.observable']).toMatchObject({ topics: ['p.t.plain'], concurrency: 7 });
    await microservice!.close();
    microservice = undefined;
    expect(runner.stopped.sort()).toEqual(Object.keys(byGroup).sort());
  });

  it('passes the payload and a KafkaEventContext, and returns the outcome (undefined → processed)', async () => {
    const { handle } = await start();
    await expect(handle('g.plain', { n: 1 })).resolves.toBe('processed');
    expect(seen).toEqual([{ n: 1, topic: 'p.t.plain', offset: expect.any(String), key: 'k1', logical: 't.plain' }]);
    // Another group's handler of the same topic is a consumer of its own: not run with this one.
    expect(observableCalls).toBe(0);
    await expect(handle('g.observable', { n: 2 })).resolves.toBe('duplicate');
    expect(observableCalls).toBe(1);
    expect(seen).toHaveLength(1);
  });

  it('without filters, classifies what the handler threw, not what the default filter made of it', async () => {
    const { handle } = await start();
    expect(await failureOf(handle('g.plain', { n: 1, fail: 'poison' }))).toMatchObject({ kind: 'poison', error: expect.any(InvalidInputError) });
    expect(await failureOf(handle('g.plain', { n: 1, fail: 'deterministic' }))).toMatchObject({ kind: 'deterministic' });
    expect(await failureOf(handle('g.plain', { n: 1, fail: 'transient' }))).toMatchObject({ kind: 'transient', error: expect.any(TransientError) });
    expect(await failureOf(handle('g.plain', { n: 1, fail: 'plain' }))).toMatchObject({ kind: 'transient', error: expect.objectContaining({ message: 'something broke' }) });
    expect(await failureOf(handle('g.observable', { n: 1, fail: 'poison' }))).toMatchObject({ kind: 'poison' });
  });

  it('under a filter and an interceptor that rewrite errors, classifies the original error; pipes and interceptors run', async () => {
    const { handle } = await start();
    // The pipe doubled n; the interceptor mapped undefined to 'duplicate'.
    await expect(handle('g.filtered', { n: 2 })).resolves.toBe('duplicate');
    expect(seen.at(-1)?.n).toBe(4);
    // The interceptor rewrites every error as non-retriable and the filter as an RpcException:
    // a transient failure must stay transient (retried), a deterministic one deterministic.
    expect(await failureOf(handle('g.filtered', { n: 1, fail: 'transient' }))).toMatchObject({ kind: 'transient', error: expect.any(TransientError) });
    expect(await failureOf(handle('g.filtered', { n: 1, fail: 'deterministic' }))).toMatchObject({ kind: 'deterministic' });
    expect(await failureOf(handle('g.filtered', { n: 1, fail: 'poison' }))).toMatchObject({ kind: 'poison', error: expect.objectContaining({ message: 'never valid' }) });
    // A pipe's error is the handler's error too.
    expect(await failureOf(handle('g.filtered', { n: -1 }))).toMatchObject({ kind: 'poison', error: expect.objectContaining({ message: 'negative' }) });
  });

  it('a filter that swallows an error without an outcome does not make the message a success', async () => {
    const { handle } = await start();
    expect(await failureOf(handle('g.silent', { n: 1, fail: 'transient' }))).toMatchObject({ kind: 'transient', error: expect.any(TransientError) });
    expect(await failureOf(handle('g.silent', { n: 1, fail: 'poison' }))).toMatchObject({ kind: 'poison' });
    expect(silent.seen).toHaveLength(2);
    await expect(handle('g.silent', { n: 1 })).resolves.toBe('processed');
  });

  it('a filter that returns an outcome settles the message with it; what it does not catch still fails', async () => {
    const { handle } = await start();
    await expect(handle('g.skip', { n: 1, fail: 'poison' })).resolves.toBe('skipped');
    expect(await failureOf(handle('g.skip', { n: 1, fail: 'transient' }))).toMatchObject({ kind: 'transient' });
  });

  it('a failure that reaches the transport as a non-error value (a guard denied) is transient', async () => {
    const { handle } = await start();
    expect(await failureOf(handle('g.guarded', { n: 1 }))).toMatchObject({ kind: 'transient', error: expect.any(UnrecognizedHandlerFailure) });
  });

  it('consumes as the group a module configured at run time, or not at all when disabled', async () => {
    const runner = new RecordingRunner();
    const transport = new KafkaEventsTransport(runner as unknown as KafkaConsumerRunner, new KafkaTopics({ brokers: [], clientId: 'x', topicPrefix: 'p.' }));
    transport.configureGroup('g.plain', { group: 'shop.plain' });
    transport.configureGroup('g.skip', { enabled: false });
    expect(transport.unserved()).toEqual(['g.plain']);
    microservice = await NestFactory.createMicroservice(TestModule, { strategy: transport, logger: false });
    await microservice.listen();
    expect(transport.unserved()).toEqual([]);
    const groups = runner.definitions.map((d) => d.groupId);
    expect(groups).toContain('p.shop.plain');
    expect(groups).not.toContain('p.g.plain');
    expect(groups).not.toContain('p.g.skip');
  });

  it('refuses two handlers of one topic in one group', async () => {
    @Controller()
    class Twice {
      @KafkaEvent('t.x', { group: 'g', schema, description: 'x' })
      a(): void {}
      @KafkaEvent('t.x', { group: 'g', schema, description: 'x' })
      b(): void {}
    }
    @Module({ controllers: [Twice] })
    class TwiceModule {}
    const transport = new KafkaEventsTransport(new RecordingRunner() as unknown as KafkaConsumerRunner, new KafkaTopics({ brokers: [], clientId: 'x' }));
    await expect(NestFactory.createMicroservice(TwiceModule, { strategy: transport, logger: false }).then((m) => m.listen())).rejects.toThrow(
      /two @KafkaEvent\(\) handlers of t.x in group g/,
    );
  });
});

/** What the batch handlers saw. */
const batchCalls: { ns: number[]; offsets: string[]; topic: string; batch: boolean; tagged: boolean }[] = [];

/** A pipe sees the whole run: tags the array. */
class TaggingArrayPipe implements PipeTransform {
  transform(value: unknown): unknown {
    return Array.isArray(value) ? Object.assign([...value], { tagged: true }) : value;
  }
}

@Controller()
class BatchController {
  @KafkaEvent('t.batch', { group: 'g.batch', schema, description: 'batch', batch: true, maxBatchSize: 20 })
  @UsePipes(new TaggingArrayPipe())
  handle(@Payload() payloads: Payload[], @Ctx() context: KafkaEventContext): HandlerOutcome[] {
    batchCalls.push({
      ns: payloads.map((p) => p.n),
      offsets: context.getMessages().map((m) => m.offset),
      topic: context.getTopic(),
      batch: context.isBatch(),
      tagged: (payloads as Payload[] & { tagged?: boolean }).tagged === true,
    });
    for (const payload of payloads) failOrReturn(payload);
    return payloads.map((p) => (p.n % 2 === 0 ? 'duplicate' : 'processed'));
  }

  @KafkaEvent('t.batch', { group: 'g.batch.bad', schema, description: 'batch', batch: true })
  wrongLength(@Payload() payloads: Payload[]): Observable<HandlerOutcome[]> {
    return of(payloads.slice(1).map(() => 'processed' as const));
  }

  @KafkaEvent('t.batch', { group: 'g.batch.filtered', schema, description: 'batch', batch: true })
  @UseFilters(new ToRpcExceptionFilter())
  filtered(@Payload() payloads: Payload[]): Promise<HandlerOutcome[]> {
    for (const payload of payloads) failOrReturn(payload);
    return Promise.resolve(payloads.map(() => 'processed'));
  }

  @KafkaEvent('t.single', { group: 'g.single', schema, description: 'single' })
  single(@Payload() payload: Payload, @Ctx() context: KafkaEventContext): HandlerOutcome {
    batchCalls.push({ ns: [payload.n], offsets: context.getMessages().map((m) => m.offset), topic: context.getTopic(), batch: context.isBatch(), tagged: false });
    return 'processed';
  }
}

@Module({ controllers: [BatchController] })
class BatchModule {}

/** `batch: true` handlers: the consumer gets `handleBatch`, the method gets arrays, its outcomes go back as they are. */
describe('KafkaEventsTransport, batch handlers', () => {
  let microservice: INestMicroservice | undefined;
  afterEach(async () => {
    await microservice?.close();
    microservice = undefined;
    batchCalls.length = 0;
  });

  async function start(configure: (transport: KafkaEventsTransport) => void = () => undefined): Promise<RecordingRunner> {
    const runner = new RecordingRunner();
    const transport = new KafkaEventsTransport(runner as unknown as KafkaConsumerRunner, new KafkaTopics({ brokers: [], clientId: 'x', topicPrefix: 'p.' }));
    configure(transport);
    microservice = await NestFactory.createMicroservice(BatchModule, { strategy: transport, logger: false });
    await microservice.listen();
    return runner;
  }

  function definitionOf(runner: RecordingRunner, group: string): ConsumerDefinition<z.ZodType> {
    const definition = runner.definitions.find((d) => d.groupId === `p.${group}`);
    if (!definition) throw new Error(`no consumer for ${group}`);
    return definition;
  }

  function handleBatch(definition: ConsumerDefinition<z.ZodType>, payloads: Payload[]): Promise<HandlerOutcome[]> {
    const items = payloads.map((payload, i) => ({ payload: schema.parse(payload), context: { topic: definition.topics[0]!, partition: 3, offset: String(10 + i), key: null, headers: {} } }));
    return definition.handleBatch!(items);
  }

  it('gives a batch handler handleBatch (and maxBatchSize) instead of handle; a single handler keeps handle', async () => {
    const runner = await start((t) => t.configureGroup('g.batch.bad', { maxBatchSize: 5 }));
    const batch = definitionOf(runner, 'g.batch');
    expect(batch.handle).toBeUndefined();
    expect(batch.handleBatch).toBeTypeOf('function');
    expect(batch.maxBatchSize).toBe(20);
    expect(definitionOf(runner, 'g.batch.bad').maxBatchSize).toBe(5);
    expect(definitionOf(runner, 'g.batch.filtered').maxBatchSize).toBeUndefined();
    const single = definitionOf(runner, 'g.single');
    expect(single.handleBatch).toBeUndefined();
    expect(single).not.toHaveProperty('maxBatchSize');
  });

  it('calls the method once with the run\'s payloads (through its pipe) and a context of every message; returns its outcomes', async () => {
    const runner = await start();
    await expect(handleBatch(definitionOf(runner, 'g.batch'), [{ n: 1 }, { n: 2 }, { n: 3 }])).resolves.toEqual(['processed', 'duplicate', 'processed']);
    expect(batchCalls).toEqual([{ ns: [1, 2, 3], offsets: ['10', '11', '12'], topic: 'p.t.batch', batch: true, tagged: true }]);

    // A single handler's context is unchanged, and lists its one message.
    const single = definitionOf(runner, 'g.single');
    await single.handle!({ n: 9 }, { topic: 'p.t.single', partition: 0, offset: '4', key: null, headers: {} });
    expect(batchCalls.at(-1)).toEqual({ ns: [9], offsets: ['4'], topic: 'p.t.single', batch: false, tagged: false });
  });

  it('classifies what the batch handler threw, not what a filter made of it', async () => {
    const runner = await start();
    expect(await failureOf(handleBatch(definitionOf(runner, 'g.batch'), [{ n: 1 }, { n: 2, fail: 'transient' }]))).toMatchObject({ kind: 'transient', error: expect.any(TransientError) });
    const filtered = definitionOf(runner, 'g.batch.filtered');
    expect(await failureOf(handleBatch(filtered, [{ n: 1 }, { n: 2, fail: 'poison' }]))).toMatchObject({ kind: 'poison', error: expect.any(InvalidInputError) });
    expect(await failureOf(handleBatch(filtered, [{ n: 1, fail: 'deterministic' }]))).toMatchObject({ kind: 'deterministic' });
  });

  it('refuses outcomes that are not one per payload: a transient failure, nothing committed', async () => {
    const runner = await start();
    expect(await failureOf(handleBatch(definitionOf(runner, 'g.batch.bad'), [{ n: 1 }, { n: 2 }]))).toMatchObject({ kind: 'transient', error: expect.any(BatchOutcomeMismatchError) });
  });
});

