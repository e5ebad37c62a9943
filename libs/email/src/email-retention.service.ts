import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InboxStore } from '@app/inbox';
import { RetentionJob, RetentionService, type RetentionPolicy } from '@app/retention';
import { EmailRepository } from './email.repository.js';
import { EMAIL_OPTIONS, resolveEmailRetentionOptions, type EmailModuleOptions } from './email.options.js';

/**
 * Keeps the module's tables from growing forever (ages in `EmailRetentionOptions`, 0 = keep):
 * - `inbox`: applied status events are forgotten only after Kafka can no longer redeliver them
 *   (the options refuse less than `TOPIC_MESSAGE_MAX_AGE_DAYS`), so a replay is still a no-op;
 * - `emails` in a final status (never one in progress or held `unknown`), with their
 *   `email_events`, counted from their last change. Their idempotency keys become reusable, and
 *   a status event still delivered for one is dead-lettered (`UnknownEmailEventError`).
 * Every instance prunes; concurrent passes skip each other's rows (`SKIP LOCKED`).
 */
@Injectable()
export class EmailRetentionService extends RetentionService {
  constructor(dataSource: DataSource, emails: EmailRepository, inbox: InboxStore, @Inject(EMAIL_OPTIONS) options: EmailModuleOptions) {
    const retention = resolveEmailRetentionOptions(options.retention);
    const { inboxMs, emailsMs } = retention;
    const policies: RetentionPolicy[] = [
      { table: 'inbox', ageMs: inboxMs, deleteBatch: (limit) => inbox.deleteProcessedBefore(dataSource.manager, inboxMs, limit) },
      { table: 'emails', ageMs: emailsMs, deleteBatch: (limit) => emails.deleteFinalBefore(dataSource.manager, emailsMs, limit) },
    ];
    super(new RetentionJob(EmailRetentionService.name, policies, retention));
  }
}
