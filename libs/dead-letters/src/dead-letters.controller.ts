import { Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { CurrentApiKey, RequireScope, type ApiKeyPrincipal } from '@app/auth';
import { pageQuerySchema, pageRequestOf, parseOrThrow, type Page } from '@app/common';
import type { DeadLetterTopicSummary } from '@app/kafka';
import type { OutboxDeadLetter, OutboxDeadLetterDetail } from '@app/outbox';
import { replayCursorSchema, type DeadLetterReplay, type ReplayActor } from './dead-letter-replays.repository.js';
import { DeadLettersService, positionCursorSchema, type DeadLetterDetail, type DeadLetterSummary } from './dead-letters.service.js';

const topicSchema = z.string().max(249).regex(/^[A-Za-z0-9._-]+\.dlq$/, 'must be a dead-letter topic (<topic>.dlq), without the deployment prefix');
const positionSchema = z.object({
  topic: topicSchema,
  partition: z.coerce.number().int().min(0).max(100_000),
  offset: z.string().regex(/^\d{1,19}$/, 'must be an offset (digits)'),
});
const listQuerySchema = pageQuerySchema(positionCursorSchema).extend({
  code: z.string().regex(/^[a-z][a-z0-9_.]*$/).max(64).optional(),
});
const outboxIdSchema = z.object({ id: z.string().regex(/^\d{1,19}$/, 'must be an outbox row id (digits)') });

const actorOf = (key: ApiKeyPrincipal): ReplayActor => ({ keyId: key.id, name: `api key ${key.name}` });

/**
 * Operator API of the dead letters, on each app's port (`dead-letters:read` to look,
 * `dead-letters:write` to replay): the Kafka `.dlq` topics of the deployment (by their logical
 * name, e.g. `mail.events.dlq`), this app's outbox dead letters, and the record of replays.
 * Lists are cursor-paginated (`{ items, nextCursor }`). See docs/guarantees/deadletters.md.
 */
@Controller('v1/dead-letters')
export class DeadLettersController {
  constructor(private readonly deadLetters: DeadLettersService) {}

  /** The `.dlq` topics and how many messages each still holds. */
  @Get('topics')
  @RequireScope('dead-letters:read')
  async topics(): Promise<{ items: DeadLetterTopicSummary[] }> {
    return { items: await this.deadLetters.topics() };
  }

  /** `?code=unknown_type` keeps the parked messages only (a filtered page may hold fewer than `limit`; follow `nextCursor`). */
  @Get('topics/:topic/messages')
  @RequireScope('dead-letters:read')
  list(@Param('topic') topic: string, @Query() query: unknown): Promise<Page<DeadLetterSummary>> {
    const { code, ...page } = parseOrThrow(listQuerySchema, query, 'query');
    return this.deadLetters.list(parseOrThrow(topicSchema, topic, 'topic'), pageRequestOf(page), code);
  }

  @Get('topics/:topic/messages/:partition/:offset')
  @RequireScope('dead-letters:read')
  show(@Param() params: unknown): Promise<DeadLetterDetail> {
    const { topic, ...position } = parseOrThrow(positionSchema, params, 'dead letter');
    return this.deadLetters.get(topic, position);
  }

  /** Publishes the message to its source topic again, with its key and headers and a replay marker; 201 with the replay's record. */
  @Post('topics/:topic/messages/:partition/:offset/replay')
  @RequireScope('dead-letters:write')
  @HttpCode(HttpStatus.CREATED)
  replay(@Param() params: unknown, @CurrentApiKey() key: ApiKeyPrincipal): Promise<DeadLetterReplay> {
    const { topic, ...position } = parseOrThrow(positionSchema, params, 'dead letter');
    return this.deadLetters.replay(topic, position, actorOf(key));
  }

  /** This app's outbox rows the broker refused for good. */
  @Get('outbox')
  @RequireScope('dead-letters:read')
  outbox(@Query() query: unknown): Promise<Page<OutboxDeadLetter>> {
    return this.deadLetters.outboxList(pageRequestOf(parseOrThrow(pageQuerySchema(outboxIdSchema.shape.id), query, 'query')));
  }

  @Get('outbox/:id')
  @RequireScope('dead-letters:read')
  outboxShow(@Param() params: unknown): Promise<OutboxDeadLetterDetail> {
    return this.deadLetters.outboxGet(parseOrThrow(outboxIdSchema, params, 'outbox dead letter').id);
  }

  /** Puts the row back in line for the relay (after the cause was fixed); 201 with the replay's record. */
  @Post('outbox/:id/replay')
  @RequireScope('dead-letters:write')
  @HttpCode(HttpStatus.CREATED)
  outboxReplay(@Param() params: unknown, @CurrentApiKey() key: ApiKeyPrincipal): Promise<DeadLetterReplay> {
    return this.deadLetters.outboxReplay(parseOrThrow(outboxIdSchema, params, 'outbox dead letter').id, actorOf(key));
  }

  /** Every replay made on this app, newest first: what, to where, by which key, when. */
  @Get('replays')
  @RequireScope('dead-letters:read')
  replays(@Query() query: unknown): Promise<Page<DeadLetterReplay>> {
    return this.deadLetters.listReplays(pageRequestOf(parseOrThrow(pageQuerySchema(replayCursorSchema), query, 'query')));
  }
}
