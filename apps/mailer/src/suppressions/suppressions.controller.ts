import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Query, Res } from '@nestjs/common';
import { RequireScope } from '@app/auth';
import type { Response } from 'express';
import { pageRequestOf, parseOrThrow, type Page } from '@app/common';
import type { Suppression } from './suppressions.repository.js';
import { SuppressionsService, newSuppressionSchema, suppressionListQuerySchema, suppressionRemovalSchema } from './suppressions.service.js';

/**
 * Operator API of the suppression list, on the mailer's port. Internal: expose it only on the
 * operators' network, like the mailer's health endpoint.
 */
@Controller('v1/suppressions')
export class SuppressionsController {
  constructor(private readonly suppressions: SuppressionsService) {}

  /** `?address=` filters to one address; `?limit=` (default 50, at most 200) and `?cursor=` page: `{ items, nextCursor }`. */
  @Get()
  @RequireScope('suppressions:read')
  list(@Query() query: unknown): Promise<Page<Suppression>> {
    const { address, ...page } = parseOrThrow(suppressionListQuerySchema, query, 'query');
    return this.suppressions.list({ ...(address !== undefined && { address }), ...pageRequestOf(page) });
  }

  /** 201 with the new entry, or 200 with the one already listed for that address and category. */
  @Post()
  @RequireScope('suppressions:write')
  async add(@Body() body: unknown, @Res({ passthrough: true }) response: Response): Promise<{ suppression: Suppression; created: boolean }> {
    const result = await this.suppressions.add(parseOrThrow(newSuppressionSchema, body, 'suppression'));
    response.status(result.created ? HttpStatus.CREATED : HttpStatus.OK);
    return result;
  }

  /** Without `?category=`, every entry of the address; 404 when there was none. */
  @Delete(':address')
  @RequireScope('suppressions:write')
  @HttpCode(HttpStatus.OK)
  remove(@Param('address') address: string, @Query() query: Record<string, unknown>): Promise<{ removed: number }> {
    return this.suppressions.remove(parseOrThrow(suppressionRemovalSchema, { ...query, address }, 'suppression'));
  }
}
