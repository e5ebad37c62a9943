import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Clock, redactUrl } from '@app/common';
import { WebhookSecretCipher, classifyWebhookResponse, nextRetryDelayMs, postWebhook, signWebhook, type WebhookResponse } from '@app/webhooks';
import { WebhookDeliveriesRepository, type ClaimedDelivery } from './webhook-deliveries.repository.js';
import { WebhookEndpointsRepository } from './webhook-endpoints.repository.js';
import { MAX_STORED_RESPONSE_BYTES, WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

/** How much longer than the HTTP timeout a claimed attempt is protected from a second worker. */
const CLAIM_MARGIN_MS = 10_000;

/** What one call of {@link WebhookDeliveryService.attempt} did; `inMs` tells the timer when to look again. */
export type AttemptOutcome =
  | { kind: 'delivered' }
  | { kind: 'failed'; reason: string }
  | { kind: 'retry'; inMs: number; reason: string }
  /** The endpoint is disabled (now or before): the delivery stays pending until it is re-enabled. */
  | { kind: 'paused'; reason: string }
  /** Not due yet (a copy of the job, or one added early): look again then. */
  | { kind: 'not-due'; inMs: number }
  | { kind: 'skipped'; reason: 'not-found' | 'finished' };

/** `webhook-id` of a delivery: the same for every attempt and replay, so receivers can drop repeats. */
export function webhookIdOf(deliveryId: string): string {
  return `msg_${deliveryId}`;
}

/** The shortest wait before a job looks at a delivery it could not claim again. */
const MIN_RECHECK_MS = 250;

/**
 * One attempt of one delivery, everything decided from PostgreSQL:
 * claim (pending, endpoint enabled, due) → sign with a fresh timestamp → POST the stored body →
 * record the attempt and the outcome in one transaction.
 *
 * Invariants:
 * - the claim counts the attempt and pushes `next_attempt_at` past the HTTP timeout, so two
 *   copies of a job (one rebuilt by the sweeper) never send the same delivery at once;
 * - the body is the stored payload, byte for byte; only the signature's timestamp changes;
 * - a 2xx ends the endpoint's failing streak; a failure starts it, and a streak longer than
 *   `disableAfterMs` disables the endpoint; a 410 disables it at once. A disabled endpoint's
 *   pending deliveries are paused, not failed: re-enabling it resumes them.
 */
@Injectable()
export class WebhookDeliveryService {
  private readonly logger = new Logger(WebhookDeliveryService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly endpoints: WebhookEndpointsRepository,
    private readonly clock: Clock,
    private readonly cipher: WebhookSecretCipher,
    @Inject(WEBHOOKS_OPTIONS) private readonly options: WebhooksOptions,
  ) {}

  async attempt(deliveryId: string): Promise<AttemptOutcome> {
    const manager = this.dataSource.manager;
    const claimed = await this.deliveries.claim(manager, deliveryId, this.options.timeoutMs + CLAIM_MARGIN_MS);
    if (!claimed) return this.unclaimable(deliveryId);

    const startedAt = this.clock.now();
    const body = claimed.payload;
    // Decrypted for this signature only; an undecryptable secret (key removed too early) throws:
    // BullMQ retries the job, and start-up names the missing key.
    const secrets = claimed.secrets.map((stored) => this.cipher.decrypt(stored, claimed.endpointId));
    const response = await postWebhook({
      url: claimed.url,
      headers: signWebhook({ id: webhookIdOf(claimed.id), timestamp: startedAt, body, secrets }),
      body,
      timeoutMs: this.options.timeoutMs,
      maxResponseBytes: MAX_STORED_RESPONSE_BYTES,
      allowed: this.options.allowedNetworks,
      ...(this.options.resolve && { resolve: this.options.resolve }),
    });
    return this.record(claimed, startedAt, response);
  }

  private async unclaimable(deliveryId: string): Promise<AttemptOutcome> {
    const state = await this.deliveries.peek(this.dataSource.manager, deliveryId);
    if (!state) return { kind: 'skipped', reason: 'not-found' };
    if (state.status !== 'pending') return { kind: 'skipped', reason: 'finished' };
    if (!state.enabled) return { kind: 'paused', reason: 'endpoint disabled' };
    // Not due, or claimed by an attempt in flight: look again then, never in a tight loop.
    return { kind: 'not-due', inMs: Math.max(MIN_RECHECK_MS, Math.ceil(state.dueInMs)) };
  }

  private async record(claimed: ClaimedDelivery, startedAt: Date, response: WebhookResponse): Promise<AttemptOutcome> {
    const verdict = classifyWebhookResponse(response, this.clock.now());
    return this.dataSource.transaction(async (manager) => {
      // The endpoint may have been deleted meanwhile, its deliveries with it: nothing to record.
      if (!(await this.deliveries.lock(manager, claimed.id))) return { kind: 'skipped', reason: 'not-found' } as const;
      await this.deliveries.insertAttempt(manager, claimed.id, {
        number: claimed.attempt,
        startedAt,
        statusCode: response.kind === 'response' ? response.statusCode : null,
        latencyMs: Math.round(response.latencyMs),
        responseBody: response.kind === 'response' ? response.body : null,
        error: response.kind === 'error' ? response.error : null,
      });
      switch (verdict.outcome) {
        case 'delivered':
          await this.deliveries.settle(manager, claimed.id, { status: 'delivered', lastError: null });
          await this.endpoints.markHealthy(manager, claimed.endpointId);
          return { kind: 'delivered' } as const;
        case 'gone':
          // Paused, due as soon as the endpoint is re-enabled.
          await this.deliveries.settle(manager, claimed.id, { status: 'pending', retryInMs: 0, lastError: verdict.reason });
          await this.endpoints.disable(manager, claimed.endpointId, '410 Gone');
          this.logger.warn(`webhook endpoint ${claimed.endpointId} disabled: ${redactUrl(claimed.url)} answered 410 Gone`);
          return { kind: 'paused', reason: verdict.reason } as const;
        case 'failed':
          await this.deliveries.settle(manager, claimed.id, { status: 'failed', lastError: verdict.reason });
          await this.endpoints.markFailing(manager, claimed.endpointId, this.options.disableAfterMs);
          return { kind: 'failed', reason: verdict.reason } as const;
        case 'retry': {
          const scheduled = nextRetryDelayMs(this.options.retrySchedule, claimed.failuresInRound);
          if (scheduled === undefined) {
            const reason = `${verdict.reason}; gave up after ${claimed.failuresInRound} attempts`;
            await this.deliveries.settle(manager, claimed.id, { status: 'failed', lastError: reason });
            await this.endpoints.markFailing(manager, claimed.endpointId, this.options.disableAfterMs);
            return { kind: 'failed', reason } as const;
          }
          // The receiver's Retry-After is a lower bound, never a way to retry sooner than planned.
          const inMs = Math.max(scheduled, verdict.retryAfterMs ?? 0);
          await this.deliveries.settle(manager, claimed.id, { status: 'pending', retryInMs: inMs, lastError: verdict.reason });
          const disabled = await this.endpoints.markFailing(manager, claimed.endpointId, this.options.disableAfterMs);
          if (disabled) {
            this.logger.warn(`webhook endpoint ${claimed.endpointId} disabled: ${disabled}`);
            return { kind: 'paused', reason: disabled } as const;
          }
          return { kind: 'retry', inMs, reason: verdict.reason } as const;
        }
      }
    });
  }
}
