import { Module } from '@nestjs/common';
import { InboxStore } from './inbox-store.js';

/** Idempotent consumption: remembers applied message ids. Needs `INBOX_MIGRATIONS`. */
@Module({ providers: [InboxStore], exports: [InboxStore] })
export class InboxModule {}
