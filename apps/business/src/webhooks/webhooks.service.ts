import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ApiKeyPrincipal } from '@app/auth';
import { IdGenerator, InvalidInputError, describeError, mapPage, pageOf, type Page, type PageRequest } from '@app/common';
import {
  WebhookSecretCipher,
  checkWebhookUrl,
  generateWebhookSecret,
  plainHttpRefusal,
  systemWebhookResolver,
  type WebhookEventType,
} from '@app/webhooks';
import {
  WebhookDeliveriesRepository,
  type DeliveryListKey,
  type DeliveryStatus,
  type WebhookAttemptRow,
  type WebhookDeliveryRow,
} from './webhook-deliveries.repository.js';
import { webhookIdOf } from './webhook-delivery.service.js';
import {
  WebhookEndpointsRepository,
  type EndpointListKey,
  type EndpointScope,
  type WebhookEndpointChange,
  type WebhookEndpointRow,
} from './webhook-endpoints.repository.js';
import { WebhookJobSweeper } from './webhook-job-sweeper.js';
import { WebhookQueue } from './webhook-queue.js';
import {
  WebhookDeliveryNotFoundError,
  WebhookEndpointDisabledError,
  WebhookEndpointLimitError,
  WebhookEndpointNotFoundError,
} from './webhooks.errors.js';
import { WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

/**
 * The endpoints a key may see and manage: those it created, or all of them with `keys:admin`.
 * Endpoints from before owners existed (owner NULL) are the admin's alone.
 */
export function endpointScopeOf(key: ApiKeyPrincipal): EndpointScope {
  return key.scopes.has('keys:admin') ? {} : { ownerKeyId: key.id };
}

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
const deliveryKey = (row: WebhookDeliveryRow): DeliveryListKey => [row.createdAtMicros, row.id];

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
    private readonly cipher: WebhookSecretCipher,
    @Inject(WEBHOOKS_OPTIONS) private readonly options: WebhooksOptions,
  ) {}

  /**
   * Creates an endpoint owned by `key`, within the caps per key and per deployment; the secret is
   * returned here (and by a rotation) only, and stored encrypted.
   */
  async create(
    key: ApiKeyPrincipal,
    input: { url: string; events: WebhookEventType[]; description?: string },
  ): Promise<WebhookEndpointView & { secret: string }> {
    const url = await this.checkedUrl(input.url);
    const id = this.ids.uuid();
    const secret = generateWebhookSecret();
    const result = await this.dataSource.transaction((manager) =>
      this.endpoints.insertWithinLimits(
        manager,
        { id, ownerKeyId: key.id, url, events: input.events, description: input.description ?? null, secret: this.cipher.encrypt(secret, id) },
        { maxPerOwner: this.options.maxEndpointsPerKey, maxTotal: this.options.maxEndpoints },
      ),
    );
    if (!('row' in result)) throw new WebhookEndpointLimitError(result.limit, result.max);
    return { ...endpointView(result.row), secret };
  }

  async list(key: ApiKeyPrincipal, page: PageRequest<EndpointListKey>): Promise<Page<WebhookEndpointView>> {
    const rows = await this.endpoints.list(this.dataSource.manager, endpointScopeOf(key), page);
    return mapPage(pageOf(rows, page.limit, (r): EndpointListKey => [r.createdAtMicros, r.id]), endpointView);
  }

  async get(key: ApiKeyPrincipal, id: string): Promise<WebhookEndpointView> {
    return endpointView(await this.endpoint(key, id));
  }

  /** Re-enabling a disabled endpoint clears its failure state and resumes its paused deliveries at once. */
  async update(key: ApiKeyPrincipal, id: string, change: WebhookEndpointChange): Promise<WebhookEndpointView> {
    // An endpoint out of scope is not found before its new URL is judged: nothing tells it exists.
    await this.endpoint(key, id);
    const checked = change.url === undefined ? change : { ...change, url: await this.checkedUrl(change.url) };
    const result = await this.dataSource.transaction(async (manager) => {
      const updated = await this.endpoints.update(manager, id, checked, endpointScopeOf(key));
      if (!updated) throw new WebhookEndpointNotFoundError(id);
      const resumed = change.enabled === true && !updated.wasEnabled ? await this.deliveries.resumePaused(manager, id) : 0;
      return { endpoint: updated.endpoint, resumed };
    });
    if (result.resumed > 0) this.sweeper.sweepSoon();
    return endpointView(result.endpoint);
  }

  /** Deletes the endpoint with its deliveries: pending ones are never attempted again. */
  async delete(key: ApiKeyPrincipal, id: string): Promise<void> {
    if (!(await this.endpoints.delete(this.dataSource.manager, id, endpointScopeOf(key)))) throw new WebhookEndpointNotFoundError(id);
  }

  async rotateSecret(key: ApiKeyPrincipal, id: string): Promise<{ id: string; secret: string; previousSecretExpiresAt: string | null }> {
    const secret = generateWebhookSecret();
    const row = await this.endpoints.rotateSecret(
      this.dataSource.manager,
      id,
      this.cipher.encrypt(secret, id),
      this.options.secretRotationGraceMs,
      endpointScopeOf(key),
    );
    if (!row) throw new WebhookEndpointNotFoundError(id);
    return { id: row.id, secret, previousSecretExpiresAt: iso(row.previousSecretExpiresAt) };
  }

  async listDeliveries(
    key: ApiKeyPrincipal,
    endpointId: string,
    query: { status?: DeliveryStatus } & PageRequest<DeliveryListKey>,
  ): Promise<Page<WebhookDeliveryView>> {
    await this.endpoint(key, endpointId);
    const rows = await this.deliveries.listByEndpoint(this.dataSource.manager, endpointId, query);
    return mapPage(pageOf(rows, query.limit, deliveryKey), deliveryView);
  }

  async getDelivery(key: ApiKeyPrincipal, endpointId: string, deliveryId: string): Promise<WebhookDeliveryDetailView> {
    await this.endpoint(key, endpointId);
    const row = await this.deliveries.findById(this.dataSource.manager, endpointId, deliveryId);
    if (!row) throw new WebhookDeliveryNotFoundError(deliveryId);
    const attempts = await this.deliveries.listAttempts(this.dataSource.manager, deliveryId);
    return {
      ...deliveryView(row),
      payload: JSON.parse(row.payload) as unknown,
      attemptLog: attempts.map((a) => ({ ...a, startedAt: a.startedAt.toISOString() })),
    };
  }

  /** The email's deliveries to the endpoints the key can see. */
  async listEmailDeliveries(key: ApiKeyPrincipal, emailId: string, page: PageRequest<DeliveryListKey>): Promise<Page<WebhookDeliveryView>> {
    const rows = await this.deliveries.listByEmail(this.dataSource.manager, emailId, endpointScopeOf(key), page);
    return mapPage(pageOf(rows, page.limit, deliveryKey), deliveryView);
  }

  /** Sends a finished delivery again, with the same `webhook-id`; its attempts counter goes on. */
  async replay(key: ApiKeyPrincipal, endpointId: string, deliveryId: string): Promise<WebhookDeliveryView> {
    await this.enabledEndpoint(key, endpointId);
    if (!(await this.deliveries.findById(this.dataSource.manager, endpointId, deliveryId))) throw new WebhookDeliveryNotFoundError(deliveryId);
    if (await this.deliveries.replay(this.dataSource.manager, endpointId, deliveryId)) await this.wake([deliveryId]);
    const row = await this.deliveries.findById(this.dataSource.manager, endpointId, deliveryId);
    if (!row) throw new WebhookDeliveryNotFoundError(deliveryId);
    return deliveryView(row);
  }

  /** Replays every failed delivery of the endpoint created since `since`; returns how many. */
  async replaySince(key: ApiKeyPrincipal, endpointId: string, since: Date): Promise<{ replayed: number }> {
    await this.enabledEndpoint(key, endpointId);
    const ids = await this.deliveries.replaySince(this.dataSource.manager, endpointId, since);
    if (ids.length > 0) this.sweeper.sweepSoon();
    return { replayed: ids.length };
  }

  /** The endpoint if the key may see it; one it may not see is not found, like one that does not exist. */
  private async endpoint(key: ApiKeyPrincipal, id: string): Promise<WebhookEndpointRow> {
    const row = await this.endpoints.findById(this.dataSource.manager, id, endpointScopeOf(key));
    if (!row) throw new WebhookEndpointNotFoundError(id);
    return row;
  }

  private async enabledEndpoint(key: ApiKeyPrincipal, id: string): Promise<void> {
    if (!(await this.endpoint(key, id)).enabled) throw new WebhookEndpointDisabledError(id);
  }

  /**
   * A URL the SSRF policy refuses is a 400 on the `url` field; so is `http://` to a host that is
   * not inside the allowed networks (a name is resolved for that, and judged again at delivery).
   */
  private async checkedUrl(url: string): Promise<string> {
    const refuse = (reason: string): never => {
      throw new InvalidInputError(`url is refused: ${reason}`, [{ path: 'url', message: reason }]);
    };
    const checked = checkWebhookUrl(url, this.options.allowedNetworks);
    if (!checked.ok) return refuse(checked.reason);
    if (checked.plainHttpName !== undefined) {
      const addresses = await (this.options.resolve ?? systemWebhookResolver)(checked.plainHttpName).catch(() => []);
      const refusal = plainHttpRefusal(addresses.map((a) => a.address), this.options.allowedNetworks);
      if (refusal !== undefined) refuse(refusal);
    }
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
