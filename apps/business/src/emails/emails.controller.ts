import { Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { z } from 'zod';
import { CurrentApiKey, RequireScope, type ApiKeyPrincipal } from '@app/auth';
import { parseOrThrow } from '@app/common';
import { EmailClient, type CancelResult, type EmailView, type SendResult } from '@app/email';
import { assertKeyMaySendFrom } from './key-sender-domains.js';

const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
  .optional();

/** The HTTP API: queue an email, read its status, cancel it. Validation lives in `EmailClient.send()`. */
@Controller('v1/emails')
export class EmailsController {
  constructor(private readonly emails: EmailClient) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireScope('emails:send')
  async send(
    @Body() body: unknown,
    @Headers('idempotency-key') rawKey: string | undefined,
    @CurrentApiKey() apiKey: ApiKeyPrincipal,
  ): Promise<{ id: string; status: SendResult['status'] }> {
    assertKeyMaySendFrom(apiKey, body);
    const idempotencyKey = parseOrThrow(idempotencyKeySchema, rawKey, 'Idempotency-Key header');
    const result = await this.emails.send(body as never, idempotencyKey === undefined ? {} : { idempotencyKey });
    return { id: result.id, status: result.status };
  }

  @Get(':id')
  @RequireScope('emails:read')
  get(@Param('id', new ParseUUIDPipe({ version: '4' })) id: string): Promise<EmailView> {
    return this.emails.get(id);
  }

  /**
   * `202`: the cancel is requested from the mailer, which cancels the email unless its SMTP
   * hand-off has started (the outcome shows as `canceled` in `GET`). `409` with `details.status`
   * when it already ended, `404` when there is no such email.
   */
  @Delete(':id')
  @RequireScope('emails:send')
  @HttpCode(HttpStatus.ACCEPTED)
  cancel(@Param('id', new ParseUUIDPipe({ version: '4' })) id: string): Promise<CancelResult> {
    return this.emails.cancel(id);
  }
}
