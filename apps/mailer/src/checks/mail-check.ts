import type { EntityManager } from 'typeorm';
import type { EmailRequestedMessage } from '@app/contracts';
import type { MailRequestStatus } from '../requests/mail-requests.repository.js';

/** The final statuses a check can end a request in (no send job, no SMTP attempt). */
export type CheckEndStatus = Extract<MailRequestStatus, 'rejected' | 'suppressed' | 'deduplicated' | 'expired'>;

/** How a check ends a request: its final status, a stable machine-readable code, and a reason for people. */
export interface CheckVerdict {
  status: CheckEndStatus;
  /** Stable, lower snake case (`header_injection`, `frequency_cap`): the event's `detail.code`. */
  code: string;
  reason: string;
}

/** What a check is given: the batch's requests that every earlier check passed. */
export interface CheckBatch<P = undefined> {
  /** Only requests recorded by this batch: a redelivered, already known request is never checked again. */
  requests: readonly EmailRequestedMessage[];
  /** The batch's transaction: what a check writes (a dedup key, a counter) commits or rolls back with the batch. */
  manager: EntityManager;
  now: Date;
  /** What this check's {@link MailCheck.prepare} found for the batch before its transaction opened. */
  prepared: P;
}

/**
 * One rule of the mailer's validation chain (`MailCheckChain`). A check sees the whole batch, so
 * one that reads or writes the database does it once per batch, never once per email, and one
 * that concerns only some requests (a category with a cap) costs nothing for the others.
 */
export interface MailCheck<P = undefined> {
  /** For logs and tests. */
  readonly name: string;
  /**
   * What the check must ask outside the database (DNS), for every request of the batch, before
   * the batch's transaction opens: a transaction never waits on the network, where it would hold
   * a connection and its row locks for seconds. What it returns is `check()`'s `prepared`.
   */
  prepare?(requests: readonly EmailRequestedMessage[]): Promise<P>;
  /** One entry per request, in order: null lets it pass, a verdict ends it. */
  check(batch: CheckBatch<P>): Promise<readonly (CheckVerdict | null)[]>;
}

/** The checks in the order they run; see `mail-checks.providers.ts`. */
export const MAIL_CHECKS = Symbol('MAIL_CHECKS');

/** Every address a request is sent to (`to`, `cc`, `bcc`). */
export function recipientsOf(request: EmailRequestedMessage): string[] {
  return [...request.to, ...(request.cc ?? []), ...(request.bcc ?? [])];
}

/** The key that matches an address case-insensitively, as the suppression list and the caps do. */
export function addressKey(address: string): string {
  return address.trim().toLowerCase();
}
