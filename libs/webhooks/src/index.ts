export { WEBHOOK_EVENT_TYPES, type WebhookEvent, type WebhookEventData, type WebhookEventType, webhookEventSchema } from './webhook-event.js';
export {
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
  MAX_WEBHOOK_TOLERANCE_SECONDS,
  type WebhookSignatureHeaders,
  type IncomingWebhookHeaders,
} from './webhook-signature.js';
export {
  parseAllowedNetworks,
  checkWebhookUrl,
  isAddressAllowed,
  isInAllowedNetworks,
  plainHttpRefusal,
  PLAIN_HTTP_REFUSAL,
  addressRefusal,
  NO_ALLOWED_NETWORKS,
  type AllowedNetworks,
  type AllowedNetwork,
} from './webhook-address-policy.js';
export { postWebhook, systemWebhookResolver, DESTINATION_NOT_ALLOWED, PLAIN_HTTP_NOT_ALLOWED, WEBHOOK_USER_AGENT, type WebhookResponse, type PostWebhookInput, type WebhookResolver } from './webhook-http.client.js';
export { classifyWebhookResponse, parseRetryAfter, MAX_RETRY_AFTER_MS, type DeliveryVerdict } from './webhook-verdict.js';
export {
  parseRetrySchedule,
  nextRetryDelayMs,
  DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS,
  WEBHOOK_RETRY_JITTER,
} from './webhook-retry-schedule.js';
export {
  WebhookSecretCipher,
  WebhookSecretDecryptionError,
  parseWebhookSecretsKey,
  webhookSecretsKeyId,
  type WebhookSecretsKeyring,
} from './webhook-secret-cipher.js';
