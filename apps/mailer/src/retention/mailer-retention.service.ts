import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InboxStore } from '@app/inbox';
import { RetentionJob, RetentionService, daysToMs, type RetentionPolicy } from '@app/retention';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import { SendLimitsRepository } from '../checks/send-limits.repository.js';
import { MailRequestsRepository } from '../requests/mail-requests.repository.js';

/** Rows per delete statement. */
const BATCH_SIZE = 1_000;

/**
 * Keeps the mailer's tables from growing forever (README "Retention"; 0 days = keep):
 * - `mail_requests`, with their `mail_attempts`: only FINAL requests (`FINAL_STATUSES`: sent,
 *   failed, expired), never pending, sending, retrying or unknown ones, and only
 *   `MAIL_REQUEST_RETENTION_DAYS` after their last change. A request row is the mailer's dedupe
 *   on the email id: if it were gone while Kafka can still redeliver the request, a replay would
 *   insert it as new and SEND THE EMAIL AGAIN. The config refuses ages shorter than
 *   `TOPIC_MESSAGE_MAX_AGE_DAYS`; with longer topic retention, configure longer ages.
 * - `inbox`: `INBOX_RETENTION_DAYS` after processing, by the same rule. (The mailer deduplicates
 *   requests on `mail_requests`; its migrations also create an inbox, kept bounded here.)
 * - `mail_dedup_keys` once their window ended, `mail_frequency_counts` of days before yesterday
 *   (UTC): neither is read again after that, so they go whatever the retention ages are.
 * Every instance prunes; concurrent passes skip each other's rows (`SKIP LOCKED`).
 */
@Injectable()
export class MailerRetentionService extends RetentionService {
  constructor(
    dataSource: DataSource,
    requests: MailRequestsRepository,
    inbox: InboxStore,
    limits: SendLimitsRepository,
    @Inject(MAILER_CONFIG) config: MailerConfig,
  ) {
    const requestsMs = daysToMs(config.MAIL_REQUEST_RETENTION_DAYS);
    const inboxMs = daysToMs(config.INBOX_RETENTION_DAYS);
    const policies: RetentionPolicy[] = [
      { table: 'mail_requests', ageMs: requestsMs, deleteBatch: (limit) => requests.deleteFinalBefore(dataSource.manager, requestsMs, limit) },
      { table: 'inbox', ageMs: inboxMs, deleteBatch: (limit) => inbox.deleteProcessedBefore(dataSource.manager, inboxMs, limit) },
      // Their age is in the rows (a window's end, a day): `ageMs` only has to be positive to be pruned.
      { table: 'mail_dedup_keys', ageMs: 1, deleteBatch: (limit) => limits.deleteExpiredDedupKeys(dataSource.manager, limit) },
      { table: 'mail_frequency_counts', ageMs: 1, deleteBatch: (limit) => limits.deleteOldCounters(dataSource.manager, limit) },
    ];
    super(new RetentionJob(MailerRetentionService.name, policies, { intervalMs: config.RETENTION_INTERVAL_MS, batchSize: BATCH_SIZE }));
  }
}
