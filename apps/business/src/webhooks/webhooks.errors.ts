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
