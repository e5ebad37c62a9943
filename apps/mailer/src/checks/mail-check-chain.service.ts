import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { EmailRequestedMessage } from '@app/contracts';
import { MAIL_CHECKS, type CheckVerdict, type MailCheck } from './mail-check.js';

/** What the checks' `prepare` found, per check (see {@link MailCheckChain.prepare}). */
export type PreparedChecks = ReadonlyMap<MailCheck<unknown>, unknown>;

/**
 * Runs the mailer's checks over a batch of newly recorded requests, in their registration order.
 * Invariants:
 * - each check sees only the requests every earlier check passed, so a request rejected for its
 *   size never takes a dedup key or a frequency-cap slot;
 * - the first verdict ends a request; the result has one entry per request, in input order;
 * - the chain stops early when nothing is left to check (a fully refused batch costs no queries);
 * - nothing in `run` waits on the network: what a check must look up outside the database it
 *   looks up in `prepare`, for the whole batch, before the caller opens its transaction, and a
 *   check with a `prepare` refuses to run without its answers.
 */
@Injectable()
export class MailCheckChain {
  constructor(@Inject(MAIL_CHECKS) private readonly checks: readonly MailCheck<unknown>[]) {}

  /** Runs every check's `prepare` on `requests` (all a batch may check), concurrently; call it before the transaction. */
  async prepare(requests: readonly EmailRequestedMessage[]): Promise<PreparedChecks> {
    const preparing = this.checks.filter((check) => check.prepare !== undefined);
    return new Map(await Promise.all(preparing.map(async (check) => [check, await check.prepare!(requests)] as const)));
  }

  /** `requests` must be among those given to {@link prepare}, whose result is `prepared`. */
  async run(requests: readonly EmailRequestedMessage[], manager: EntityManager, now: Date, prepared: PreparedChecks = new Map()): Promise<(CheckVerdict | null)[]> {
    const verdicts: (CheckVerdict | null)[] = requests.map(() => null);
    let open = [...requests.keys()];
    for (const check of this.checks) {
      if (open.length === 0) break;
      if (check.prepare && !prepared.has(check)) throw new Error(`check ${check.name} needs prepare() before run()`);
      const results = await check.check({ requests: open.map((i) => requests[i]!), manager, now, prepared: prepared.get(check) });
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
