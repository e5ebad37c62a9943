import { Injectable } from '@nestjs/common';
import type { CheckBatch, CheckVerdict, MailCheck } from './mail-check.js';

/** Drops a request that arrives after its `expiresAt`: it ends `expired`, never sent late. */
@Injectable()
export class ExpiryCheck implements MailCheck {
  readonly name = 'expired';

  async check({ requests, now }: CheckBatch): Promise<(CheckVerdict | null)[]> {
    return requests.map((request) =>
      request.expiresAt !== undefined && Date.parse(request.expiresAt) <= now.getTime()
        ? { status: 'expired', code: 'expired', reason: 'expired before it was accepted' }
        : null,
    );
  }
}
