import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { IdGenerator, InvalidInputError, describeError } from '@app/common';
import { checkWebhookUrl, generateWebhookSecret, type WebhookEventType } from '@app/webhooks';
import { WebhookDeliveriesRepository, type DeliveryStatus, type WebhookAttemptRow, type WebhookDeliveryRow } from './webhook-deliveries.repository.js';
import { webhookIdOf } from './webhook-delivery.service.js';
import { WebhookEndpointsRepository, type WebhookEndpointChange, type WebhookEndpointRow } from './webhook-endpoints.repository.js';
import { WebhookJobSweeper } from './webhook-job-sweeper.js';
import { WebhookQueue } from './webhook-queue.js';
import { WebhookDeliveryNotFoundError, WebhookEndpointDisabledError, WebhookEndpointNotFoundError } from './webhooks.errors.js';
import { WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

/** An endpoint as the API shows it: never its secrets (only creation and rotation return one). */
export interface WebhookEndpointView {
  id: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: string | null;
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface WebhookDeliveryView {
  id: string;
  /** The `webhook-id` header of every attempt of this delivery. */
  webhookId: string;
  endpointId: string;
  eventId: string;
  emailId: string;
  eventType: WebhookEventType;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface WebhookDeliveryDetailView extends WebhookDeliveryView {
  /** The body sent, as JSON. */
  payload: unknown;
  attemptLog: (Omit<WebhookAttemptRow, 'startedAt'> & { startedAt: string })[];
}

const iso = (date: Date | null): string | null => date?.toISOString() ?? null;

function endpointView(row: WebhookEndpointRow): WebhookEndpointView {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.disabledReason,
    disabledAt: iso(row.disabledAt),
    failingSince: iso(row.failingSince),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

function deliveryView(row: WebhookDeliveryRow): WebhookDeliveryView {
  return {
    id: row.id,
    webhookId: webhookIdOf(row.id),
    endpointId: row.endpointId,
    eventId: row.eventId,
    emailId: row.emailId,
    eventType: row.eventType,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? iso(row.nextAttemptAt) : null,
    lastError: row.lastError,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** Endpoint management, delivery history and replay, for the HTTP API. */
@Injectable()
export class WebhooksService {
  private readonly logger = new Logger(WebhooksService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly endpoints: WebhookEndpointsRepository,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly queue: WebhookQueue,
    private readonly sweeper: WebhookJobSweeper,
    private readonly ids: IdGenerator,
    @Inject(WEBHOOKS_OPTIONS) private readonly options: WebhooksOptions,
  ) {}

  async create(input: { url: string; events: WebhookEventType[]; description?: string }): Promise<WebhookEndpointView & { secret: string }> {
    const row = await this.endpoints.insert(this.dataSource.manager, {
      id: this.ids.uuid(),
      url: this.checkedUrl(input.url),
      events: input.events,
      description: input.description ?? null,
      secret: generateWebhookSecret(),
    });
    return { ...endpointView(row), secret: row.secret };
  }

  async list(): Promise<WebhookEndpointView[]> {
    return (await this.endpoints.list(this.dataSource.manager)).map(endpointView);
  }

  async get(id: string): Promise<WebhookEndpointView> {
    return endpointView(await this.endpoint(id));
  }

  /** Re-enabling a disabled endpoint clears its failure state and resumes its paused deliveries at once. */
  async update(id: string, change: WebhookEndpointChange): Promise<WebhookEndpointView> {
    const checked = change.url === undefined ? change : { ...change, url: this.checkedUrl(change.url) };
    const result = await this.dataSource.transaction(async (manager) => {
      const updated = await this.endpoints.update(manager, id, checked);
      if (!updated) throw new WebhookEndpointNotFoundError(id);
      const resumed = change.enabled === true && !updated.wasEnabled ? await this.deliveries.resumePaused(manager, id) : 0;
      return { endpoint: updated.endpoint, resumed };
    });
    if (result.resumed > 0) this.sweeper.sweepSoon();
    return endpointView(result.endpoint);
  }

  /** Deletes the endpoint with its deliveries: pending ones are never attempted again. */
  async delete(id: string): Promise<void> {
    if (!(await this.endpoints.delete(this.dataSource.manager, id))) throw new WebhookEndpointNotFoundError(id);
  }

  async rotateSecret(id: string): Promise<{ id: string; secret: string; previousSecretExpiresAt: string | null }> {
    const row = await this.endpoints.rotateSecret(this.dataSource.manager, id, generateWebhookSecret(), this.options.secretRotationGraceMs);
    if (!row) throw new WebhookEndpointNotFoundError(id);
    return { id: row.id, secret: row.secret, previousSecretExpiresAt: iso(row.previousSecretExpiresAt) };
  }

  async listDeliveries(
    endpointId: string,
    query: { status?: DeliveryStatus; limit: number; after?: string },
  ): Promise<{ data: WebhookDeliveryView[]; nextCursor: string | null }> {
    await this.endpoint(endpointId);
    const rows = await this.deliveries.listByEndpoint(this.dataSource.manager, endpointId, query);
    const last = rows.length === query.limit ? rows[rows.length - 1] : undefined;
    return { data: rows.map(deliveryView), nextCursor: last?.id ?? null };
  }

  async getDelivery(endpointId: string, deliveryId: string): Promise<WebhookDeliveryDetailView> {
    const row = await this.deliveries.findById(this.dataSource.manager, endpointId, deliveryId);
    if (!row) throw new WebhookDeliveryNotFoundError(deliveryId);
    const attempts = await this.deliveries.listAttempts(this.dataSource.manager, deliveryId);
    return {
      ...deliveryView(row),
      payload: JSON.parse(row.payload) as unknown,
      attemptLog: attempts.map((a) => ({ ...a, startedAt: a.startedAt.toISOString() })),
    };
  }

  async listEmailDeliveries(emailId: string): Promise<{ data: WebhookDeliveryView[] }> {
    return { data: (await this.deliveries.listByEmail(this.dataSource.manager, emailId)).map(deliveryView) };
  }

  /** Sends a finished delivery again, with the same `webhook-id`; its attempts counter goes on. */
  async replay(endpointId: string, deliveryId: string): Promise<WebhookDeliveryView> {
    await this.enabledEndpoint(endpointId);
    if (!(await this.deliveries.findById(this.dataSource.manager, endpointId, deliveryId))) throw new WebhookDeliveryNotFoundError(deliveryId);
    if (await this.deliveries.replay(this.dataSource.manager, endpointId, deliveryId)) await this.wake([deliveryId]);
    const row = await this.deliveries.findById(this.dataSource.manager, endpointId, deliveryId);
    if (!row) throw new WebhookDeliveryNotFoundError(deliveryId);
    return deliveryView(row);
  }

  /** Replays every failed delivery of the endpoint created since `since`; returns how many. */
  async replaySince(endpointId: string, since: Date): Promise<{ replayed: number }> {
    await this.enabledEndpoint(endpointId);
    const ids = await this.deliveries.replaySince(this.dataSource.manager, endpointId, since);
    if (ids.length > 0) this.sweeper.sweepSoon();
    return { replayed: ids.length };
  }

  private async endpoint(id: string): Promise<WebhookEndpointRow> {
    const row = await this.endpoints.findById(this.dataSource.manager, id);
    if (!row) throw new WebhookEndpointNotFoundError(id);
    return row;
  }

  private async enabledEndpoint(id: string): Promise<void> {
    if (!(await this.endpoint(id)).enabled) throw new WebhookEndpointDisabledError(id);
  }

  /** A URL the SSRF policy refuses is a 400 on the `url` field. */
  private checkedUrl(url: string): string {
    const checked = checkWebhookUrl(url, this.options.allowedNetworks);
    if (!checked.ok) throw new InvalidInputError(`url is refused: ${checked.reason}`, [{ path: 'url', message: checked.reason }]);
    return checked.url.toString();
  }

  /** Gives replayed deliveries their jobs now; the sweeper covers Redis being away. */
  private async wake(ids: string[]): Promise<void> {
    try {
      for (const id of ids) await this.queue.ensure(id);
    } catch (error) {
      this.logger.debug(`replay left to the sweeper: ${describeError(error)}`);
      this.sweeper.sweepSoon();
    }
  }
}
