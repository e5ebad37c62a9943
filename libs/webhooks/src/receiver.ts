/**
 * What a webhook *receiver* needs, and nothing of the sender: published as
 * `@email-loop/nestjs/webhooks`, usable from any Node.js HTTP server (Nest, Express, Fastify, plain
 * `node:http`).
 *
 * ```ts
 * import { verifyWebhook, WebhookVerificationError } from '@email-loop/nestjs/webhooks';
 *
 * const event = verifyWebhook(rawBody, request.headers, process.env.WEBHOOK_SECRET!);
 * // event.type === 'email.sent', event.data.emailId, …; drop a repeated `webhook-id`
 * ```
 */
export { verifyWebhook, WebhookVerificationError, MAX_WEBHOOK_TOLERANCE_SECONDS, type IncomingWebhookHeaders } from './webhook-signature.js';
export type { WebhookEvent, WebhookEventData, WebhookEventType } from './webhook-event.js';
