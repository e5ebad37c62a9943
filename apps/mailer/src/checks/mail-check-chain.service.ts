import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { EmailRequestedMessage } from '@app/contracts';
import { MAIL_CHECKS, type CheckVerdict, type MailCheck } from './mail-check.js';

/**
 * Runs the mailer's checks over a batch of newly recorded requests, in their registration order.
 * Invariants:
 * - each check sees only the requests every earlier check passed, so a request rejected for its
 *   size never takes a dedup key or a frequency-cap slot;
 * - the first verdict ends a request; the result has one entry per request, in input order;
 * - the chain stops early when nothing is left to check (a fully refused batch costs no queries).
 */
@Injectable()
export class MailCheckChain {
  constructor(@Inject(MAIL_CHECKS) private readonly checks: readonly MailCheck[]) {}

  async run(requests: readonly EmailRequestedMessage[], manager: EntityManager, now: Date): Promise<(CheckVerdict | null)[]> {
    const verdicts: (CheckVerdict | null)[] = requests.map(() => null);
    let open = [...requests.keys()];
    for (const check of this.checks) {
      if (open.length === 0) break;
      const results = await check.check({ requests: open.map((i) => requests[i]!), manager, now });
      if (results.length !== open.length) throw new Error(`check ${check.name} returned ${results.length} verdicts for ${open.length} requests`);
      open = open.filter((index, k) => {
        const verdict = results[k];
        if (!verdict) return true;
        verdicts[index] = verdict;
        return false;
      });
    }
    return verdicts;
  }
}
