import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { parseOrThrow } from '@app/common';
import { RequireScope } from './auth.decorators.js';
import { ApiKeysService, newApiKeySchema, type ApiKeyView } from './api-keys.service.js';

const listQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(200).optional(),
});

/**
 * `/v1/api-keys`: create (the key is in the `201` and nowhere ever after), list, revoke. Keys from
 * configuration (`bootstrap:<n>`) are not listed and cannot be revoked here: remove them from the
 * configuration.
 */
@Controller('v1/api-keys')
@RequireScope('keys:admin')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  create(@Body() body: unknown): Promise<ApiKeyView & { key: string }> {
    return this.keys.create(parseOrThrow(newApiKeySchema, body, 'API key'));
  }

  @Get()
  list(@Query() query: unknown): Promise<{ items: ApiKeyView[]; nextCursor: string | null }> {
    const { limit, cursor } = parseOrThrow(listQuerySchema, query, 'query');
    return this.keys.list(limit, cursor);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  revoke(@Param('id', new ParseUUIDPipe()) id: string): Promise<void> {
    return this.keys.revoke(id);
  }
}
