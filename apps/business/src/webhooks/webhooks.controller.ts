import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { CurrentApiKey, RequireScope, type ApiKeyPrincipal } from '@app/auth';
import { micros, pageQuerySchema, pageRequestOf, parseOrThrow, type Page } from '@app/common';
import { WEBHOOK_EVENT_TYPES } from '@app/webhooks';
import { DELIVERY_STATUSES } from './webhook-deliveries.repository.js';
import { WebhooksService, type WebhookDeliveryDetailView, type WebhookDeliveryView, type WebhookEndpointView } from './webhooks.service.js';

/** A non-empty list of event types, each once. No wildcard: a type added later is never sent unasked. */
const eventsSchema = z
  .array(z.enum(WEBHOOK_EVENT_TYPES))
  .min(1)
  .transform((events) => [...new Set(events)]);
// NUL (which PostgreSQL text cannot hold) and the rest of the rule every input obeys are refused by
// `parseOrThrow`; the SSRF policy (`checkWebhookUrl`) decides the rest.
const urlSchema = z.string().min(1).max(2_048);
const descriptionSchema = z.string().max(500);

const createSchema = z.strictObject({ url: urlSchema, events: eventsSchema, description: descriptionSchema.optional() });
const updateSchema = z
  .strictObject({ url: urlSchema, events: eventsSchema, description: descriptionSchema.nullable(), enabled: z.boolean() })
  .partial()
  .refine((change) => Object.keys(change).length > 0, 'nothing to change: give url, events, description or enabled');
/** The cursor of every list here: creation time in microseconds and id. */
const listKey = z.tuple([micros, z.uuid()]);
const pageQuery = pageQuerySchema(listKey);
const listQuerySchema = pageQuery.strict();
const deliveriesQuerySchema = pageQuery.extend({ status: z.enum(DELIVERY_STATUSES).optional() }).strict();
const replaySinceSchema = z.strictObject({ since: z.iso.datetime({ offset: true }).transform((s) => new Date(s)) });

const uuid = new ParseUUIDPipe();

/**
 * `/v1/webhooks`: endpoints, their deliveries and replays; and the deliveries of one email. Each
 * key sees the endpoints it created (all of them with `keys:admin`): the service decides, from
 * the key it is handed. Lists are cursor-paginated (`?limit=&cursor=` → `{ items, nextCursor }`).
 */
@Controller('v1')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post('webhooks')
  @RequireScope('webhooks:write')
  create(@CurrentApiKey() key: ApiKeyPrincipal, @Body() body: unknown): Promise<WebhookEndpointView & { secret: string }> {
    return this.webhooks.create(key, parseOrThrow(createSchema, body, 'webhook endpoint'));
  }

  @Get('webhooks')
  @RequireScope('webhooks:read')
  list(@CurrentApiKey() key: ApiKeyPrincipal, @Query() query: unknown): Promise<Page<WebhookEndpointView>> {
    return this.webhooks.list(key, pageRequestOf(parseOrThrow(listQuerySchema, query, 'query')));
  }

  @Get('webhooks/:id')
  @RequireScope('webhooks:read')
  get(@CurrentApiKey() key: ApiKeyPrincipal, @Param('id', uuid) id: string): Promise<WebhookEndpointView> {
    return this.webhooks.get(key, id);
  }

  @Patch('webhooks/:id')
  @RequireScope('webhooks:write')
  update(@CurrentApiKey() key: ApiKeyPrincipal, @Param('id', uuid) id: string, @Body() body: unknown): Promise<WebhookEndpointView> {
    return this.webhooks.update(key, id, parseOrThrow(updateSchema, body, 'webhook endpoint change'));
  }

  @Delete('webhooks/:id')
  @RequireScope('webhooks:write')
  @HttpCode(HttpStatus.NO_CONTENT)
  delete(@CurrentApiKey() key: ApiKeyPrincipal, @Param('id', uuid) id: string): Promise<void> {
    return this.webhooks.delete(key, id);
  }

  @Post('webhooks/:id/rotate-secret')
  @RequireScope('webhooks:write')
  rotateSecret(
    @CurrentApiKey() key: ApiKeyPrincipal,
    @Param('id', uuid) id: string,
  ): Promise<{ id: string; secret: string; previousSecretExpiresAt: string | null }> {
    return this.webhooks.rotateSecret(key, id);
  }

  @Get('webhooks/:id/deliveries')
  @RequireScope('webhooks:read')
  listDeliveries(@CurrentApiKey() key: ApiKeyPrincipal, @Param('id', uuid) id: string, @Query() query: unknown): Promise<Page<WebhookDeliveryView>> {
    const { status, ...page } = parseOrThrow(deliveriesQuerySchema, query, 'query');
    return this.webhooks.listDeliveries(key, id, { ...(status && { status }), ...pageRequestOf(page) });
  }

  @Get('webhooks/:id/deliveries/:deliveryId')
  @RequireScope('webhooks:read')
  getDelivery(
    @CurrentApiKey() key: ApiKeyPrincipal,
    @Param('id', uuid) id: string,
    @Param('deliveryId', uuid) deliveryId: string,
  ): Promise<WebhookDeliveryDetailView> {
    return this.webhooks.getDelivery(key, id, deliveryId);
  }

  @Post('webhooks/:id/deliveries/:deliveryId/replay')
  @RequireScope('webhooks:write')
  @HttpCode(HttpStatus.ACCEPTED)
  replay(@CurrentApiKey() key: ApiKeyPrincipal, @Param('id', uuid) id: string, @Param('deliveryId', uuid) deliveryId: string): Promise<WebhookDeliveryView> {
    return this.webhooks.replay(key, id, deliveryId);
  }

  @Post('webhooks/:id/replay')
  @RequireScope('webhooks:write')
  @HttpCode(HttpStatus.ACCEPTED)
  replaySince(@CurrentApiKey() key: ApiKeyPrincipal, @Param('id', uuid) id: string, @Body() body: unknown): Promise<{ replayed: number }> {
    return this.webhooks.replaySince(key, id, parseOrThrow(replaySinceSchema, body, 'replay').since);
  }

  @Get('emails/:id/webhook-deliveries')
  @RequireScope('webhooks:read')
  listEmailDeliveries(@CurrentApiKey() key: ApiKeyPrincipal, @Param('id', uuid) id: string, @Query() query: unknown): Promise<Page<WebhookDeliveryView>> {
    return this.webhooks.listEmailDeliveries(key, id, pageRequestOf(parseOrThrow(listQuerySchema, query, 'query')));
  }
}
