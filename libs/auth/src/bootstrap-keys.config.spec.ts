import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '@app/common';
import { hashApiKey } from './api-key.secret.js';
import { bootstrapApiKeysSchema } from './bootstrap-keys.config.js';

const schema = z.object({ BUSINESS_API_KEYS: bootstrapApiKeysSchema() });

describe('bootstrapApiKeysSchema', () => {
  it('holds the keys as their hashes only', () => {
    const a = 'a'.repeat(24);
    const b = 'b-key-of-enough-length-xyz';
    expect(loadConfig(schema, { BUSINESS_API_KEYS: ` ${a} ,${b},` }, 'business').BUSINESS_API_KEYS).toEqual([hashApiKey(a), hashApiKey(b)]);
    expect(loadConfig(schema, {}, 'business').BUSINESS_API_KEYS).toEqual([]);
  });

  it('refuses a key shorter than 24 characters, naming the variable and never the value', () => {
    const short = 'short-secret-value';
    let message = '';
    try {
      loadConfig(schema, { BUSINESS_API_KEYS: `${'x'.repeat(30)},${short}` }, 'business');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('BUSINESS_API_KEYS');
    expect(message).toContain('key 2 is shorter than 24 characters');
    expect(message).not.toContain(short);
    expect(message).not.toContain('x'.repeat(30));
  });
});
