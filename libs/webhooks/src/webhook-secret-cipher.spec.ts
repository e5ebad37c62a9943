import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WebhookSecretCipher, WebhookSecretDecryptionError, parseWebhookSecretsKey, webhookSecretsKeyId } from './webhook-secret-cipher.js';

const endpointId = '0b9c2f4e-7a1d-4d6e-9a51-6f3f1c9d2e10';

describe('WebhookSecretCipher', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);

  it('encrypts with a fresh IV under the current key, naming the key and never holding the secret', () => {
    const cipher = new WebhookSecretCipher({ current: newKey, previous: [] });
    const a = cipher.encrypt('whsec_abc', endpointId);
    const b = cipher.encrypt('whsec_abc', endpointId);
    expect(a).not.toBe(b);
    expect(a).toMatch(new RegExp(`^enc:v1:${webhookSecretsKeyId(newKey)}:[\\w-]+\\.[\\w-]+\\.[\\w-]+$`));
    expect(a).not.toContain('abc');
    expect(cipher.decrypt(a, endpointId)).toBe('whsec_abc');
    expect(cipher.needsReencryption(a)).toBe(false);
  });

  it('refuses a ciphertext moved to another endpoint or tampered with', () => {
    const cipher = new WebhookSecretCipher({ current: newKey, previous: [] });
    const stored = cipher.encrypt('whsec_abc', endpointId);
    expect(() => cipher.decrypt(stored, 'another-endpoint')).toThrow(WebhookSecretDecryptionError);
    const tampered = stored.slice(0, -2) + (stored.endsWith('AA') ? 'BB' : 'AA');
    expect(() => cipher.decrypt(tampered, endpointId)).toThrow(WebhookSecretDecryptionError);
  });

  it('decrypts values under a previous key and moves them (and clear legacy values) to the current one', () => {
    const before = new WebhookSecretCipher({ current: oldKey, previous: [] });
    const after = new WebhookSecretCipher({ current: newKey, previous: [oldKey] });
    const stored = before.encrypt('whsec_old', endpointId);
    expect(after.needsReencryption(stored)).toBe(true);
    expect(after.decrypt(stored, endpointId)).toBe('whsec_old');
    const moved = after.reencrypt(stored, endpointId);
    expect(after.needsReencryption(moved)).toBe(false);
    expect(new WebhookSecretCipher({ current: newKey, previous: [] }).decrypt(moved, endpointId)).toBe('whsec_old');
    expect(after.needsReencryption('whsec_clear')).toBe(true);
    expect(after.decrypt(after.reencrypt('whsec_clear', endpointId), endpointId)).toBe('whsec_clear');
  });

  it('names the variable to fix, never a key, when a value is under an unknown key', () => {
    const stored = new WebhookSecretCipher({ current: oldKey, previous: [] }).encrypt('whsec_old', endpointId);
    const without = new WebhookSecretCipher({ current: newKey, previous: [] });
    expect(() => without.decrypt(stored, endpointId)).toThrow(/WEBHOOK_SECRETS_PREVIOUS_KEYS/);
    try {
      without.decrypt(stored, endpointId);
    } catch (error) {
      for (const key of [oldKey, newKey]) {
        expect((error as Error).message).not.toContain(key.toString('base64'));
        expect((error as Error).message).not.toContain(key.toString('hex'));
      }
    }
  });
});

describe('parseWebhookSecretsKey', () => {
  it('reads 32 bytes as hex, base64 or base64url', () => {
    const key = randomBytes(32);
    for (const text of [key.toString('hex'), key.toString('base64'), key.toString('base64url')]) expect(parseWebhookSecretsKey(text)).toEqual(key);
  });

  it('refuses anything else without repeating the value', () => {
    for (const text of ['', 'short', randomBytes(16).toString('hex'), randomBytes(31).toString('base64'), 'z'.repeat(64)]) {
      expect(() => parseWebhookSecretsKey(text)).toThrow(/must be 32 bytes/);
      try {
        parseWebhookSecretsKey(text);
      } catch (error) {
        if (text !== '') expect((error as Error).message).not.toContain(text);
      }
    }
  });
});
