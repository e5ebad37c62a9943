import { Inject, Injectable } from '@nestjs/common';
import { MAILER_CONFIG, frequencyCap, type MailerConfig } from '../config.js';
import { addressKey, recipientsOf, type CheckBatch, type CheckVerdict, type MailCheck } from './mail-check.js';
import { SendLimitsRepository } from './send-limits.repository.js';

/**
 * At most `FREQUENCY_CAP` emails of a category per recipient per UTC day: the (N+1)th ends
 * `rejected` with code `frequency_cap`. Counted in `mail_frequency_counts` by one upsert per
 * batch (only for requests of a capped category; others cost nothing), in the batch's
 * transaction: the counter's row lock orders instances, so two of them never both take the
 * last slot.
 *
 * What is counted is emails that reached this check (every earlier check passed them), each
 * once per recipient. An email to several recipients that is refused because one of them is at
 * the cap still counts for the others: the counter is one upsert, and keeping it exact would
 * take a second statement per batch.
 */
@Injectable()
export class FrequencyCapCheck implements MailCheck {
  readonly name = 'frequency_cap';

  constructor(
    @Inject(MAILER_CONFIG) private readonly config: MailerConfig,
    private readonly limits: SendLimitsRepository,
  ) {}

  async check({ requests, manager, now }: CheckBatch): Promise<(CheckVerdict | null)[]> {
    const day = now.toISOString().slice(0, 10);
    // Per counter (recipient, category): the batch's requests that count on it, in order.
    const counters = new Map<string, { recipient: string; category: string; cap: number; indexes: number[] }>();
    requests.forEach((request, index) => {
      const cap = frequencyCap(this.config, request.category);
      if (cap === undefined) return;
      for (const recipient of new Set(recipientsOf(request).map(addressKey))) {
        const id = `${recipient}\n${request.category}`;
        const counter = counters.get(id) ?? { recipient, category: request.category!, cap, indexes: [] };
        counter.indexes.push(index);
        counters.set(id, counter);
      }
    });
    const verdicts: (CheckVerdict | null)[] = requests.map(() => null);
    if (counters.size === 0) return verdicts;
    const before = await this.limits.countSends(
      manager,
      [...counters.values()].map(({ recipient, category, indexes }) => ({ recipient, category, count: indexes.length })),
      day,
    );
    for (const { recipient, category, cap, indexes } of counters.values()) {
      const start = before.get(`${recipient}\n${category}`) ?? 0;
      indexes.forEach((index, k) => {
        if (start + k + 1 > cap && !verdicts[index]) {
          verdicts[index] = {
            status: 'rejected',
            code: 'frequency_cap',
            reason: `${recipient} already got ${cap} email(s) of category ${category} today (UTC), the cap`,
          };
        }
      });
    }
    return verdicts;
  }
}
