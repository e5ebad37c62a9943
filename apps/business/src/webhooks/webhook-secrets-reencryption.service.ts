import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { WebhookSecretCipher } from '@app/webhooks';
import { WebhookEndpointsRepository } from './webhook-endpoints.repository.js';

/** Endpoints read per round trip. */
const BATCH = 200;

/**
 * Moves every stored signing secret to the current key at start-up: secrets stored in clear by a
 * version before encryption, and secrets under a previous key (`WEBHOOK_SECRETS_PREVIOUS_KEYS`)
 * after a key rotation. Runs after the migrations (`main.ts` migrates before `init`).
 *
 * Invariants:
 * - a secret under a key that is not configured fails start-up with an error naming the key id
 *   and the variables to fix (never a key or a secret), before the app serves anything;
 * - each row is replaced by compare-and-set on its old values, so instances starting together, or
 *   a rotation through the API meanwhile, never lose a secret; no lock is needed;
 * - once it has run, no row depends on a previous key: the operator may drop it from the config.
 */
@Injectable()
export class WebhookSecretsReencryptionService implements OnApplicationBootstrap {
  private readonly logger = new Logger(WebhookSecretsReencryptionService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly endpoints: WebhookEndpointsRepository,
    private readonly cipher: WebhookSecretCipher,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const moved = await this.reencryptAll();
    if (moved > 0) this.logger.log(`re-encrypted the signing secrets of ${moved} webhook endpoints under key ${this.cipher.currentKeyId}`);
  }

  /** Returns how many endpoints it re-encrypted. */
  async reencryptAll(): Promise<number> {
    let moved = 0;
    let after: string | null = null;
    for (;;) {
      const rows = await this.endpoints.listSecrets(this.dataSource.manager, after, BATCH);
      for (const row of rows) {
        const stale = this.cipher.needsReencryption(row.secret) || (row.previousSecret !== null && this.cipher.needsReencryption(row.previousSecret));
        if (!stale) continue;
        const to = {
          secret: this.cipher.reencrypt(row.secret, row.id),
          previousSecret: row.previousSecret === null ? null : this.cipher.reencrypt(row.previousSecret, row.id),
        };
        if (await this.endpoints.replaceSecrets(this.dataSource.manager, row.id, row, to)) moved++;
      }
      if (rows.length < BATCH) return moved;
      after = rows[rows.length - 1]!.id;
    }
  }
}
