import { INBOX_MIGRATIONS } from '@app/inbox';
import { OUTBOX_MIGRATIONS } from '@app/outbox';
import { CreateEmails1763900000100 } from './email.migration.js';
import { EmailsRetentionIndex1763900000110 } from './emails-retention-index.migration.js';

export { EmailModule } from './email.module.js';
export { DEFAULT_MAX_MESSAGE_BYTES, type EmailModuleOptions, type EmailRetentionOptions } from './email.options.js';
export {
  OnEmailEvent,
  type EmailEventContext,
  type EmailStatusEvent,
} from './email-event-handlers.js';
export { EmailClient, type EmailView, type SendOptions, type SendResult } from './email-client.js';
/** `send()`'s argument, before validation (`to` may be one address, `lane` may be omitted). */
export type { EmailRequestInput } from '@app/contracts';
export {
  EmailNotFoundError,
  EmailTooLargeError,
  EmailTransactionRequiredError,
  IdempotencyKeyConflictError,
  UnknownEmailEventError,
} from './email.errors.js';
/** Raised by `send()` for an invalid request; re-exported so a module user can catch it by class. */
export { InvalidInputError, type FieldError } from '@app/common';

/** The migrations the email module needs, in order; add them to your DataSource's `migrations`. */
export const EMAIL_MIGRATIONS = [
  ...OUTBOX_MIGRATIONS,
  ...INBOX_MIGRATIONS,
  CreateEmails1763900000100,
  EmailsRetentionIndex1763900000110,
];
