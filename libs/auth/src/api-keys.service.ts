import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { InvalidInputError, NotFoundError } from '@app/common';
import { senderDomainSchema } from '@app/contracts';
import { displayPrefix, generateApiKey, hashApiKey } from './api-key.secret.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.service.js';
import { ApiKeysRepository, type ApiKeyRecord } from './api-keys.repository.js';
import { SCOPES } from './scopes.js';

export class ApiKeyNotFoundError extends NotFoundError {
  readonly code = 'api_key_not_found';
}

/** The body of `POST /v1/api-keys` (and the CLI's `create`). */
export const newApiKeySchema = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters'),
  scopes: z
    .array(z.enum(SCOPES))
    .min(1)
    .transform((scopes) => [...new Set(scopes)]),
  senderDomains: z
    .array(senderDomainSchema)
    .min(1)
    .max(100)
    .transform((domains) => [...new Set(domains)])
    .optional(),
});
export type NewApiKey = z.output<typeof newApiKeySchema>;

/** A key as lists show it: never its hash, never the key. */
export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  senderDomains: string[] | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Creates a key and stores its hash; the returned `key` is the only time anyone sees it. */
export async function issueApiKey(keys: ApiKeysRepository, input: NewApiKey): Promise<ApiKeyView & { key: string }> {
  const key = generateApiKey();
  const record = await keys.insert({
    name: input.name,
    prefix: displayPrefix(key),
    hash: hashApiKey(key),
    scopes: input.scopes,
    senderDomains: input.senderDomains ?? null,
  });
  return { ...apiKeyView(record), key };
}

export function apiKeyView(record: ApiKeyRecord): ApiKeyView {
  return {
    id: record.id,
    name: record.name,
    prefix: record.prefix,
    scopes: record.scopes,
    senderDomains: record.senderDomains,
    createdAt: record.createdAt.toISOString(),
    lastUsedAt: record.lastUsedAt?.toISOString() ?? null,
    revokedAt: record.revokedAt?.toISOString() ?? null,
  };
}

const cursorSchema = z.tuple([z.iso.datetime(), z.uuid()]);

/** An opaque list cursor: base64url of the last item's `(created_at, id)`. */
export function encodeCursor(next: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([next.createdAt.toISOString(), next.id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const result = cursorSchema.safeParse(parsed);
  if (!result.success) throw new InvalidInputError('query is invalid: cursor: not a cursor this API returned', [{ path: 'cursor', message: 'not a cursor this API returned' }]);
  return { createdAt: new Date(result.data[0]), id: result.data[1] };
}

/** Key management behind `/v1/api-keys`. */
@Injectable()
export class ApiKeysService {
  constructor(
    private readonly keys: ApiKeysRepository,
    private readonly authenticator: ApiKeyAuthenticator,
  ) {}

  create(input: NewApiKey): Promise<ApiKeyView & { key: string }> {
    return issueApiKey(this.keys, input);
  }

  async list(limit: number, cursor?: string): Promise<{ items: ApiKeyView[]; nextCursor: string | null }> {
    const page = await this.keys.list(limit, cursor === undefined ? undefined : decodeCursor(cursor));
    return { items: page.items.map(apiKeyView), nextCursor: page.next ? encodeCursor(page.next) : null };
  }

  async revoke(id: string): Promise<void> {
    const revoked = await this.keys.revoke(id);
    if (!revoked) throw new ApiKeyNotFoundError(`no API key ${id}`);
    // Here at once; other instances within the cache's lifetime (ApiKeyAuthenticator).
    this.authenticator.forget(id);
  }
}
