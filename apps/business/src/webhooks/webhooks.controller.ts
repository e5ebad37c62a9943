import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { parseOrThrow } from '@app/common';
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
const deliveriesQuerySchema = z.object({
  status: z.enum(DELIVERY_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.uuid().optional(),
});
const replaySinceSchema = z.strictObject({ since: z.iso.datetime({ offset: true }).transform((s) => new Date(s)) });

const uuid = new ParseUUIDPipe();

/** `/v1/webhooks`: endpoints, their deliveries and replays; and the deliveries of one email. */
@Controller('v1')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post('webhooks')
  create(@Body() body: unknown): Promise<WebhookEndpointView & { secret: string }> {
    return this.webhooks.create(parseOrThrow(createSchema, body, 'webhook endpoint'));
  }

  @Get('webhooks')
  async list(): Promise<{ data: WebhookEndpointView[] }> {
    return { data: await this.webhooks.list() };
  }

  @Get('webhooks/:id')
  get(@Param('id', uuid) id: string): Promise<WebhookEndpointView> {
    return this.webhooks.get(id);
  }

  @Patch('webhooks/:id')
  update(@Param('id', uuid) id: string, @Body() body: unknown): Promise<WebhookEndpointView> {
    return this.webhooks.update(id, parseOrThrow(updateSchema, body, 'webhook endpoint change'));
  }

  @Delete('webhooks/:id')
  @HttpCode(HttpStatus.NO_CONTENT)
  delete(@Param('id', uuid) id: string): Promise<void> {
    return this.webhooks.delete(id);
  }

  @Post('webhooks/:id/rotate-secret')
  rotateSecret(@Param('id', uuid) id: string): Promise<{ id: string; secret: string; previousSecretExpiresAt: string | null }> {
    return this.webhooks.rotateSecret(id);
  }

  @Get('webhooks/:id/deliveries')
  listDeliveries(@Param('id', uuid) id: string, @Query() query: unknown): Promise<{ data: WebhookDeliveryView[]; nextCursor: string | null }> {
    return this.webhooks.listDeliveries(id, parseOrThrow(deliveriesQuerySchema, query, 'query'));
  }

  @Get('webhooks/:id/deliveries/:deliveryId')
  getDelivery(@Param('id', uuid) id: string, @Param('deliveryId', uuid) deliveryId: string): Promise<WebhookDeliveryDetailView> {
    return this.webhooks.getDelivery(id, deliveryId);
  }

  @Post('webhooks/:id/deliveries/:deliveryId/replay')
  @HttpCode(HttpStatus.ACCEPTED)
  replay(@Param('id', uuid) id: string, @Param('deliveryId', uuid) deliveryId: string): Promise<WebhookDeliveryView> {
    return this.webhooks.replay(id, deliveryId);
  }

  @Post('webhooks/:id/replay')
  @HttpCode(HttpStatus.ACCEPTED)
  replaySince(@Param('id', uuid) id: string, @Body() body: unknown): Promise<{ replayed: number }> {
    return this.webhooks.replaySince(id, parseOrThrow(replaySinceSchema, body, 'replay').since);
  }

  @Get('emails/:id/webhook-deliveries')
  listEmailDeliveries(@Param('id', uuid) id: string): Promise<{ data: WebhookDeliveryView[] }> {
    return this.webhooks.listEmailDeliveries(id);
  }
}
