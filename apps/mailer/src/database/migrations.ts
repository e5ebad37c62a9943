import { CreateInbox1763900000001 } from '@app/inbox';
import { OUTBOX_MIGRATIONS } from '@app/outbox';
import { CreateMailRequests1763900000200 } from './mailer.migration.js';
import { MailRequestsSweepIndex1763900000210 } from './mail-requests-sweep-index.migration.js';

export const MAILER_MIGRATIONS = [
  ...OUTBOX_MIGRATIONS,
  CreateInbox1763900000001,
  CreateMailRequests1763900000200,
  MailRequestsSweepIndex1763900000210,
];
