import type { AllowedNetworks, WebhookResolver, WebhookSecretsKeyring } from '@app/webhooks';

/** What the webhooks feature is configured with (parsed from the business config at start-up). */
export interface WebhooksOptions {
  redisUrl: string;
  /** PEM of a private CA for a `rediss://` URL (`REDIS_TLS_CA_FILE`). */
  redisTlsCa?: string | undefined;
  /** BullMQ key prefix; one per deployment (or per test) so queues never collide. */
  queuePrefix: string;
  /** Deliveries in flight per instance. */
  concurrency: number;
  /** One HTTP request's deadline. */
  timeoutMs: number;
  /** Delay before each retry; a delivery fails once it is exhausted. */
  retrySchedule: number[];
  /** Private networks a webhook may still reach (everything non-public is refused otherwise). */
  allowedNetworks: AllowedNetworks;
  /** How long the previous secret keeps signing after a rotation. */
  secretRotationGraceMs: number;
  /** An endpoint failing without a single success for this long is disabled. */
  disableAfterMs: number;
  /** Delivered and failed deliveries (with their attempts) are deleted this long after their last change; 0 keeps them. */
  retentionMs: number;
  retentionIntervalMs: number;
  /** How often due deliveries are checked against the queue (Redis may have lost jobs). */
  sweepIntervalMs: number;
  /** Endpoints one API key may own (`webhook_endpoint_limit` beyond). */
  maxEndpointsPerKey: number;
  /** Endpoints in all, whoever owns them. */
  maxEndpoints: number;
  /** Keys the signing secrets are encrypted under at rest. */
  secretsKeys: WebhookSecretsKeyring;
  /** How endpoint host names are resolved (registration and delivery); the system resolver by default. */
  resolve?: WebhookResolver;
}

export const WEBHOOKS_OPTIONS = Symbol('WEBHOOKS_OPTIONS');

/** Bytes of a receiver's response body kept with an attempt. */
export const MAX_STORED_RESPONSE_BYTES = 2_048;