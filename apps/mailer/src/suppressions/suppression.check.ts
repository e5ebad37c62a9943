import { Injectable } from '@nestjs/common';
import { addressKey, recipientsOf, type CheckBatch, type CheckVerdict, type MailCheck } from '../checks/mail-check.js';
import { SuppressionsRepository, type Suppression } from './suppressions.repository.js';

/**
 * Ends, as `suppressed` without an SMTP attempt, an email to an address on the suppression list:
 * an entry of the email's category or one for every category (null). One query per batch.
 *
 * The whole email is suppressed when any of its recipients is: the mailer sends one message per
 * request, and silently dropping a recipient would change what the caller asked for.
 */
@Injectable()
export class SuppressionCheck implements MailCheck {
  readonly name = 'suppressed';

  constructor(private readonly suppressions: SuppressionsRepository) {}

  async check({ requests, manager }: CheckBatch): Promise<(CheckVerdict | null)[]> {
    const entries = await this.suppressions.findForAddresses(manager, requests.flatMap(recipientsOf));
    if (entries.length === 0) return requests.map(() => null);
    const byAddress = new Map<string, Suppression[]>();
    for (const entry of entries) byAddress.set(entry.address, [...(byAddress.get(entry.address) ?? []), entry]);
    return requests.map((request) => {
      for (const recipient of recipientsOf(request)) {
        const entry = byAddress.get(addressKey(recipient))?.find((e) => e.category === null || e.category === request.category);
        if (entry) {
          const scope = entry.category === null ? '' : ` for category ${entry.category}`;
          return { status: 'suppressed', code: 'suppressed', reason: `${recipient} is on the suppression list${scope} (${entry.reason})` };
        }
      }
      return null;
    });
  }
}
