import { Inject, Injectable } from '@nestjs/common';
import { MAILER_CONFIG, dedupWindowSeconds, type MailerConfig } from '../config.js';
import { dedupKey } from './dedup-key.js';
import type { CheckBatch, CheckVerdict, MailCheck } from './mail-check.js';
import { SendLimitsRepository } from './send-limits.repository.js';

/**
 * Sends the same email (same recipients and content, `dedupKey`) once per window: the first
 * request claims the key in `mail_dedup_keys` until the window ends, the others end
 * `deduplicated`. Only requests with a window (`DEDUP_CATEGORIES`, `DEDUP_WINDOW_SECONDS` for
 * bulk) are looked at; a batch without any costs no query, one with some costs one statement.
 * The claim is written in the batch's transaction: correct across instances (the key's row lock
 * orders them) and undone if the batch is. It is released when its email ends without being sent
 * (`failed`, `expired`, `canceled`, `rejected` by a later check, `suppressed`), in the transaction
 * that ends it, by a trigger (database/dedup-claim-release.migration.ts): resending a newsletter
 * that failed in an SMTP outage delivers it. A sent email keeps its claim for the window.
 */
@Injectable()
export class DedupCheck implements MailCheck {
  readonly name = 'deduplicated';

  constructor(
    @Inject(MAILER_CONFIG) private readonly config: MailerConfig,
    private readonly limits: SendLimitsRepository,
  ) {}

  async check({ requests, manager, now }: CheckBatch): Promise<(CheckVerdict | null)[]> {
    const verdicts: (CheckVerdict | null)[] = requests.map(() => null);
    // The first request of each key in the batch claims it; later ones in the batch are duplicates of it.
    const firstOfKey = new Map<string, { index: number; windowSeconds: number }>();
    const laterOfKey: { index: number; key: string }[] = [];
    requests.forEach((request, index) => {
      const windowSeconds = dedupWindowSeconds(this.config, request.lane, request.category);
      if (windowSeconds === 0) return;
      const key = dedupKey(request);
      if (firstOfKey.has(key)) laterOfKey.push({ index, key });
      else firstOfKey.set(key, { index, windowSeconds });
    });
    if (firstOfKey.size === 0) return verdicts;
    const claimed = await this.limits.claimDedupKeys(
      manager,
      [...firstOfKey].map(([key, { index, windowSeconds }]) => ({ key, emailId: requests[index]!.emailId, windowSeconds })),
      now,
    );
    const duplicate = (windowSeconds: number): CheckVerdict => ({
      status: 'deduplicated',
      code: 'duplicate',
      reason: `the same email went to the same recipients within the last ${windowSeconds} s`,
    });
    for (const [key, { index, windowSeconds }] of firstOfKey) if (!claimed.has(key)) verdicts[index] = duplicate(windowSeconds);
    for (const { index, key } of laterOfKey) verdicts[index] = duplicate(firstOfKey.get(key)!.windowSeconds);
    return verdicts;
  }
}
