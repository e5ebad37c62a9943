import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/** The keys webhook signing secrets are encrypted under: new ciphertexts use `current`; `previous` only decrypt. */
export interface WebhookSecretsKeyring {
  readonly current: Buffer;
  readonly previous: readonly Buffer[];
}

const KEY_BYTES = 32;
const IV_BYTES = 12; // GCM's native nonce size
const TAG_BYTES = 16;
const PREFIX = 'enc:v1:';

/**
 * A 32-byte key from configuration: 64 hex digits, or base64/base64url of 32 bytes (`openssl rand
 * -base64 32`). The error never repeats the value: it is a secret, and config errors are logged.
 */
export function parseWebhookSecretsKey(value: string): Buffer {
  const text = value.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(text)) key = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) key = Buffer.from(text.replace(/=$/, ''), 'base64url');
  if (key?.length !== KEY_BYTES) throw new Error('must be 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)');
  return key;
}

/** A short public name of a key, stored with each ciphertext: derived one-way, it tells nothing of the key. */
export function webhookSecretsKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('email-loop webhook secrets key id').digest('hex').slice(0, 12);
}

/** A stored secret names a key that is not configured (rotated away too early), or its ciphertext does not verify. */
export class WebhookSecretDecryptionError extends Error {
  readonly code = 'webhook.secret_undecryptable';
  readonly retriable = false;
}

/**
 * Encrypts webhook signing secrets at rest with AES-256-GCM from `node:crypto`: an authenticated
 * cipher built into Node, so no library is needed (a wrapper would add a dependency around the
 * same three calls). Each value is `enc:v1:<key id>:<iv>.<tag>.<ciphertext>` (base64url), with a
 * fresh random 96-bit IV; the endpoint id is the additional authenticated data, so a ciphertext
 * copied onto another endpoint's row does not decrypt. The key id travels with the value, so a
 * value under a previous key still decrypts while `reencrypt` moves it to the current one.
 *
 * A value without the prefix is a secret stored in clear by a version before encryption; it is
 * read as it is until the start-up re-encryption has encrypted it.
 */
export class WebhookSecretCipher {
  readonly currentKeyId: string;
  private readonly current: Buffer;
  private readonly keys: ReadonlyMap<string, Buffer>;

  constructor(keyring: WebhookSecretsKeyring) {
    this.current = keyring.current;
    this.currentKeyId = webhookSecretsKeyId(keyring.current);
    this.keys = new Map([keyring.current, ...keyring.previous].map((key) => [webhookSecretsKeyId(key), key]));
  }

  encrypt(secret: string, endpointId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current, iv);
    cipher.setAAD(Buffer.from(endpointId, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
    return `${PREFIX}${this.currentKeyId}:${parts.join('.')}`;
  }

  /** @throws WebhookSecretDecryptionError naming the key id (never a key or a secret). */
  decrypt(stored: string, endpointId: string): string {
    if (!stored.startsWith(PREFIX)) return stored;
    const [keyId = '', body = ''] = stored.slice(PREFIX.length).split(':');
    const key = this.keys.get(keyId);
    if (!key) {
      throw new WebhookSecretDecryptionError(
        `the secret of webhook endpoint ${endpointId} is encrypted under key ${keyId}, which is neither WEBHOOK_SECRETS_KEY ` +
          `(${this.currentKeyId}) nor one of WEBHOOK_SECRETS_PREVIOUS_KEYS: configure that key as a previous key`,
      );
    }
    const [iv, tag, ciphertext] = body.split('.').map((part) => Buffer.from(part, 'base64url'));
    try {
      if (!iv || !tag || !ciphertext || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('malformed');
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(endpointId, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      throw new WebhookSecretDecryptionError(`the secret of webhook endpoint ${endpointId} does not decrypt under key ${keyId}: the stored value is damaged`);
    }
  }

  /** Whether a stored value is in clear or under a key other than the current one. */
  needsReencryption(stored: string): boolean {
    return !stored.startsWith(`${PREFIX}${this.currentKeyId}:`);
  }

  /** The value under the current key (decrypting a clear or older value first). */
  reencrypt(stored: string, endpointId: string): string {
    return this.needsReencryption(stored) ? this.encrypt(this.decrypt(stored, endpointId), endpointId) : stored;
  }
}
