import { CreateInbox1763900000001 } from '@app/inbox';
import { CreateOutbox1763900000000 } from '@app/outbox';
import { CreateMailRequests1763900000200 } from './mailer.migration.js';

export const MAILER_MIGRATIONS = [CreateOutbox1763900000000, CreateInbox1763900000001, CreateMailRequests1763900000200];
