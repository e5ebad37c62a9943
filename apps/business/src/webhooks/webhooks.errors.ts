import { NotFoundError, StateConflictError } from '@app/common';

export class WebhookEndpointNotFoundError extends NotFoundError {
  readonly code = 'webhook_endpoint_not_found';

  constructor(id: string) {
    super(`webhook endpoint ${id} not found`);
  }
}

export class WebhookDeliveryNotFoundError extends NotFoundError {
  readonly code = 'webhook_delivery_not_found';

  constructor(id: string) {
    super(`webhook delivery ${id} not found`);
  }
}

/** A replay onto a disabled endpoint would only park the delivery: enable the endpoint first. */
export class WebhookEndpointDisabledError extends StateConflictError {
  readonly code = 'webhook_endpoint_disabled';

  constructor(id: string) {
    super(`webhook endpoint ${id} is disabled; enable it (PATCH enabled: true) before replaying`);
  }
}

/**
 * Creating one more endpoint would pass a cap: `WEBHOOK_MAX_ENDPOINTS_PER_KEY` for the calling
 * key, or `WEBHOOK_MAX_ENDPOINTS` for the deployment. Every endpoint costs a delivery row and a
 * request per event, so the caps bound what one key can make the fan-out do.
 */
export class WebhookEndpointLimitError extends StateConflictError {
  readonly code = 'webhook_endpoint_limit';
  override readonly details: Readonly<Record<string, string>>;

  constructor(limit: 'key' | 'deployment', max: number) {
    super(
      limit === 'key'
        ? `this API key already has ${max} webhook endpoints, the most one key may have; delete one first`
        : `the deployment already has ${max} webhook endpoints, the most it allows; delete one first`,
    );
    this.details = { limit, max: String(max) };
  }
}
