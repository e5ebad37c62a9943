import { Body, Controller, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { RequireScope } from '@app/auth';
import { parseOrThrow } from '@app/common';
import { ReconciliationService, reconciliationSchema, type UnconfirmedEmail } from './reconciliation.service.js';

/**
 * Operator API for the emails a `hold` lane marked `unknown`. Internal: expose it only on the
 * operators' network, like the mailer's health endpoint.
 */
@Controller('v1/unconfirmed')
export class ReconciliationController {
  constructor(private readonly reconciliation: ReconciliationService) {}

  @Get()
  @RequireScope('emails:read')
  async list(): Promise<{ emails: UnconfirmedEmail[] }> {
    return { emails: await this.reconciliation.listUnconfirmed() };
  }

  @Post(':emailId/reconcile')
  @RequireScope('unconfirmed:write')
  @HttpCode(HttpStatus.OK)
  reconcile(@Param('emailId', new ParseUUIDPipe()) emailId: string, @Body() body: unknown): Promise<{ emailId: string; status: string }> {
    return this.reconciliation.reconcile(emailId, parseOrThrow(reconciliationSchema, body, 'reconciliation'));
  }
}
