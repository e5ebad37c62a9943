import { INBOX_MIGRATIONS } from '@app/inbox';
import { OUTBOX_MIGRATIONS } from '@app/outbox';
import { CreateEmails1763900000100 } from './email.migration.js';
import { EmailsRetentionIndex1763900000110 } from './emails-retention-index.migration.js';

export { EmailModule } from './email.module.js';
export type { EmailModuleOptions, EmailRetentionOptions } from './email.options.js';
export { EmailClient, type EmailView, type SendOptions, type SendResult } from './email-client.js';
export { EmailNotFoundError, IdempotencyKeyConflictError, UnknownEmailEventError } from './email.errors.js';

/** The migrations the email module needs, in order; add them to your DataSource's `migrations`. */
export const EMAIL_MIGRATIONS = [
  ...OUTBOX_MIGRATIONS,
  ...INBOX_MIGRATIONS,
  CreateEmails1763900000100,
  EmailsRetentionIndex1763900000110,
];
