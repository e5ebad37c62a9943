import { CreateInbox1763900000001 } from './inbox.migration.js';
import { InboxRetentionIndex1763900000010 } from './inbox-retention-index.migration.js';

export { InboxModule } from './inbox.module.js';
export { InboxStore } from './inbox-store.js';
export { CreateInbox1763900000001, InboxRetentionIndex1763900000010 };

/** The inbox's migrations, in order: add them to the migrations of every app that has an inbox. */
export const INBOX_MIGRATIONS = [CreateInbox1763900000001, InboxRetentionIndex1763900000010];
