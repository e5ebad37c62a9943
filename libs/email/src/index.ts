import { CreateInbox1763900000001 } from '@app/inbox';
import { OUTBOX_MIGRATIONS } from '@app/outbox';
import { CreateEmails1763900000100 } from './email.migration.js';

export { EmailModule } from './email.module.js';
export type { EmailModuleOptions } from './email.options.js';
export { EmailClient, type EmailView, type SendOptions, type SendResult } from './email-client.js';
export { EmailNotFoundError, IdempotencyKeyConflictError, UnknownEmailEventError } from './email.errors.js';

/** The migrations the email module needs, in order; add them to your DataSource's `migrations`. */
export const EMAIL_MIGRATIONS = [...OUTBOX_MIGRATIONS, CreateInbox1763900000001, CreateEmails1763900000100];
