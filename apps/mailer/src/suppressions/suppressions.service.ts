import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { NotFoundError, pageOf, pageQuerySchema, type Page, type PageRequest } from '@app/common';
import { SUPPRESSION_REASONS, categorySchema, emailAddressSchema, type SuppressionChangedMessage } from '@app/contracts';
import { InboxStore } from '@app/inbox';
import type { HandlerOutcome } from '@app/kafka';
import { addressKey } from '../checks/mail-check.js';
import { SuppressionsRepository, type NewSuppression, type Suppression, type SuppressionListKey } from './suppressions.repository.js';

/** The body of `POST /v1/suppressions`. */
export const newSuppressionSchema = z.strictObject({
  address: emailAddressSchema,
  /** Omitted: the address is suppressed for every category. */
  category: categorySchema.optional(),
  reason: z.enum(SUPPRESSION_REASONS).default('manual'),
});

/** The query of `GET /v1/suppressions`. */
/** The query of `GET /v1/suppressions`: `?address=` filters; `?limit=&cursor=` page (cursor: address and category). */
export const suppressionListQuerySchema = pageQuerySchema(z.tuple([z.string().max(320), z.string().max(64)]))
  .extend({ address: emailAddressSchema.optional() })
  .strict();

/** The query of `DELETE /v1/suppressions/:address`. */
export const suppressionRemovalSchema = z.strictObject({
  address: emailAddressSchema,
  category: categorySchema.optional(),
});

export class SuppressionNotFoundError extends NotFoundError {
  readonly code = 'suppression_not_found';

  constructor(readonly address: string) {
    super(`${address} is not on the suppression list`);
  }
}

/** The inbox consumer name of `mail.suppressions`: each change is applied once. */
const INBOX_CONSUMER = 'suppressions';

/**
 * The suppression list: what operators change through the API and the business side through
 * `mail.suppressions` (an unsubscribe). Hard bounces are added by `MailSender` itself, in the
 * statement's transaction that records the failure.
 */
@Injectable()
export class SuppressionsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly suppressions: SuppressionsRepository,
    private readonly inbox: InboxStore,
  ) {}

  async list(query: { address?: string } & PageRequest<SuppressionListKey>): Promise<Page<Suppression>> {
    const rows = await this.suppressions.list(this.dataSource.manager, query);
    return pageOf(rows, query.limit, (s): SuppressionListKey => [s.address, s.category ?? '']);
  }

  /** Adds the entry unless its address and category are listed already; returns the entry as listed. */
  async add(entry: z.output<typeof newSuppressionSchema>): Promise<{ suppression: Suppression; created: boolean }> {
    const category = entry.category ?? null;
    const [added] = await this.suppressions.addMany(this.dataSource.manager, [{ address: entry.address, category, reason: entry.reason, sourceEmailId: null }]);
    if (added) return { suppression: added, created: true };
    return { suppression: (await this.suppressions.find(this.dataSource.manager, entry.address, category))!, created: false };
  }

  /** Removes the address's entry of `category`, or, without one, every entry of the address. */
  async remove(removal: z.output<typeof suppressionRemovalSchema>): Promise<{ removed: number }> {
    const removed = await this.suppressions.remove(
      this.dataSource.manager,
      removal.category === undefined ? { everyCategory: [removal.address] } : { pairs: [{ address: removal.address, category: removal.category }] },
    );
    if (removed === 0) throw new SuppressionNotFoundError(removal.address);
    return { removed };
  }

  /**
   * Applies a run of `mail.suppressions` messages in one transaction: each message once (inbox),
   * in order, with the same result as one by one, in at most three statements (inbox, removals,
   * additions). A `suppression.removed` without a category removes every entry of the address.
   */
  async applyChanges(changes: readonly SuppressionChangedMessage[]): Promise<HandlerOutcome[]> {
    if (changes.length === 0) return [];
    return this.dataSource.transaction(async (manager) => {
      const recorded = await this.inbox.recordMany(
        manager,
        INBOX_CONSUMER,
        changes.map((c) => c.eventId),
      );
      const outcomes: HandlerOutcome[] = changes.map(() => 'duplicate');
      const plan = new SuppressionPlan();
      changes.forEach((change, i) => {
        // Taken from the set as it is used: a second copy in the batch is a duplicate.
        if (!recorded.delete(change.eventId)) return;
        plan.apply(change);
        outcomes[i] = 'processed';
      });
      await this.suppressions.remove(manager, plan.removals());
      await this.suppressions.addMany(manager, plan.additions());
      return outcomes;
    });
  }
}

/**
 * The net effect of a run of changes, folded in order: per address, whether the list's entries
 * are wiped (a category-less removal), then per (address, category) the last word, add or remove.
 */
class SuppressionPlan {
  private readonly wiped = new Set<string>();
  private readonly last = new Map<string, { address: string; category: string | null; add?: NewSuppression }>();

  apply(change: SuppressionChangedMessage): void {
    const address = addressKey(change.address);
    const category = change.category ?? null;
    if (change.type === 'suppression.removed' && category === null) {
      this.wiped.add(address);
      for (const [key, entry] of this.last) if (entry.address === address) this.last.delete(key);
      return;
    }
    const add = change.type === 'suppression.added' ? { address, category, reason: change.reason, sourceEmailId: change.emailId ?? null } : undefined;
    this.last.set(`${address}\n${category ?? ''}`, { address, category, ...(add && { add }) });
  }

  removals(): { everyCategory: string[]; pairs: { address: string; category: string | null }[] } {
    return {
      everyCategory: [...this.wiped],
      pairs: [...this.last.values()].filter((e) => !e.add && !this.wiped.has(e.address)).map(({ address, category }) => ({ address, category })),
    };
  }

  additions(): NewSuppression[] {
    return [...this.last.values()].flatMap((e) => (e.add ? [e.add] : []));
  }
}
