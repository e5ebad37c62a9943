import { Module } from '@nestjs/common';
import { InboxStore } from './inbox-store.js';

/** Idempotent consumption: remembers applied message ids. Needs the `CreateInbox…` migration. */
@Module({ providers: [InboxStore], exports: [InboxStore] })
export class InboxModule {}
