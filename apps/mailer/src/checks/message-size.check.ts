import { Inject, Injectable } from '@nestjs/common';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import type { CheckBatch, CheckVerdict, MailCheck } from './mail-check.js';

/**
 * Refuses a message larger than `MAIL_MAX_MESSAGE_BYTES`, in UTF-8 bytes, not characters (a
 * character limit lets a message of emoji through at four times the size). Measured over the
 * whole request as it arrived, so every part counts, attachments included once requests carry
 * them (their base64 is close to their size on the wire).
 */
@Injectable()
export class MessageSizeCheck implements MailCheck {
  readonly name = 'message_too_large';

  constructor(@Inject(MAILER_CONFIG) private readonly config: MailerConfig) {}

  async check({ requests }: CheckBatch): Promise<(CheckVerdict | null)[]> {
    const limit = this.config.MAIL_MAX_MESSAGE_BYTES;
    return requests.map((request) => {
      const bytes = Buffer.byteLength(JSON.stringify(request), 'utf8');
      return bytes <= limit ? null : { status: 'rejected', code: 'message_too_large', reason: `the message is ${bytes} bytes, the limit is ${limit}` };
    });
  }
}
