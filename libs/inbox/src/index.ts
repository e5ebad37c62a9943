export { InboxModule } from './inbox.module.js';
export { InboxStore } from './inbox-store.js';
export { CreateInbox1763900000001 } from './inbox.migration.js';
