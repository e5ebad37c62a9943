import { Inject, Injectable } from '@nestjs/common';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import { recipientsOf, type CheckBatch, type CheckVerdict, type MailCheck } from './mail-check.js';

/**
 * Refuses an email to more than `MAIL_MAX_RECIPIENTS` addresses in `to`, `cc` and `bcc` together
 * (the contract limits each list on its own).
 */
@Injectable()
export class RecipientCountCheck implements MailCheck {
  readonly name = 'too_many_recipients';

  constructor(@Inject(MAILER_CONFIG) private readonly config: MailerConfig) {}

  async check({ requests }: CheckBatch): Promise<(CheckVerdict | null)[]> {
    const limit = this.config.MAIL_MAX_RECIPIENTS;
    return requests.map((request) => {
      const count = recipientsOf(request).length;
      return count <= limit ? null : { status: 'rejected', code: 'too_many_recipients', reason: `${count} recipients, the limit is ${limit}` };
    });
  }
}
