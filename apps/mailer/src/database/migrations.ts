import { API_KEY_MIGRATIONS } from '@app/auth';
import { INBOX_MIGRATIONS } from '@app/inbox';
import { OUTBOX_MIGRATIONS } from '@app/outbox';
import { CreateMailRequests1763900000200 } from './mailer.migration.js';
import { MailAttemptLease1763900000230 } from './attempt-lease.migration.js';
import { MailRequestsSweepIndex1763900000210 } from './mail-requests-sweep-index.migration.js';
import { MailRequestsRetentionIndex1763900000220 } from './mail-requests-retention-index.migration.js';
import { MailRequestsRetentionIndexV21763900000240 } from './mail-requests-retention-index-v2.migration.js';
import { MailRequestsNextAttempt1763900000285 } from './mail-requests-next-attempt.migration.js';
import { SendingChecks1763900000310 } from './sending-checks.migration.js';
import { MailRequestsSendAt1763900000410 } from './mail-requests-send-at.migration.js';
import { DedupClaimRelease1763900000500 } from './dedup-claim-release.migration.js';

export const MAILER_MIGRATIONS = [
  ...OUTBOX_MIGRATIONS,
  ...INBOX_MIGRATIONS,
  CreateMailRequests1763900000200,
  MailRequestsSweepIndex1763900000210,
  MailRequestsRetentionIndex1763900000220,
  MailAttemptLease1763900000230,
  MailRequestsRetentionIndexV21763900000240,
  MailRequestsNextAttempt1763900000285,
  SendingChecks1763900000310,
  MailRequestsSendAt1763900000410,
  DedupClaimRelease1763900000500,
  ...API_KEY_MIGRATIONS,
];
