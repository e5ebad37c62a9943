import { Body, Controller, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { micros, pageQuerySchema, pageRequestOf, parseOrThrow, type Page } from '@app/common';
import { RequireScope } from '@app/auth';
import { ReconciliationService, reconciliationSchema, type UnconfirmedEmail } from './reconciliation.service.js';

/** Cursor: how long held (microseconds of `updated_at`) and the email id. */
const listQuerySchema = pageQuerySchema(z.tuple([micros, z.uuid()])).strict();

/**
 * Operator API for the emails a `hold` lane marked `unknown`. Internal: expose it only on the
 * operators' network, like the mailer's health endpoint.
 */
@Controller('v1/unconfirmed')
export class ReconciliationController {
  constructor(private readonly reconciliation: ReconciliationService) {}

  @Get()
  @RequireScope('emails:read')
  list(@Query() query: unknown): Promise<Page<UnconfirmedEmail>> {
    return this.reconciliation.listUnconfirmed(pageRequestOf(parseOrThrow(listQuerySchema, query, 'query')));
  }

  @Post(':emailId/reconcile')
  @RequireScope('unconfirmed:write')
  @HttpCode(HttpStatus.OK)
  reconcile(@Param('emailId', new ParseUUIDPipe()) emailId: string, @Body() body: unknown): Promise<{ emailId: string; status: string }> {
    return this.reconciliation.reconcile(emailId, parseOrThrow(reconciliationSchema, body, 'reconciliation'));
  }
}
