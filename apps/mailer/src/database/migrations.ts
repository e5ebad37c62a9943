import { CreateInbox1763900000001 } from '@app/inbox';
import { OUTBOX_MIGRATIONS } from '@app/outbox';
import { CreateMailRequests1763900000200 } from './mailer.migration.js';
import { MailAttemptLease1763900000230 } from './attempt-lease.migration.js';

export const MAILER_MIGRATIONS = [...OUTBOX_MIGRATIONS, CreateInbox1763900000001, CreateMailRequests1763900000200, MailAttemptLease1763900000230];
