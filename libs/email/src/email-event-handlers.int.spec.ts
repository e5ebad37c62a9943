import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Injectable, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { CONTRACT_VERSION, type EmailEventMessage, type EmailEventType } from '@app/contracts';
import { InboxModule } from '@app/inbox';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { DEFAULT_EMAIL_SCHEMA, EMAIL_MIGRATIONS } from './index.js';
import { EMAIL_OPTIONS } from './email.options.js';
import { EmailEventHandlers, OnEmailEvent, type EmailEventContext, type EmailStatusEvent } from './email-event-handlers.js';
import { EmailRepository } from './email.repository.js';
import { EmailStatusService } from './email-status.service.js';

/** A host app's handler: records what it saw in its own table, through the event's transaction. */
@Injectable()
class OutcomeRecorder {
  failNext = false;

  @OnEmailEvent('email.sent', 'email.failed')
  async onOutcome(event: EmailStatusEvent<'email.sent' | 'email.failed'>, { manager }: EmailEventContext): Promise<void> {
    await manager.query(`INSERT INTO host_outcomes (event_id, email_id, type, status, changed) VALUES ($1, $2, $3, $4, $5)`, [
      event.eventId,
      event.emailId,
      event.type,
      event.email.status,
      event.statusChanged,
    ]);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('host handler failed after writing');
    }
  }
}

@Injectable()
class EverythingCounter {
  readonly seen: EmailEventType[] = [];

  @OnEmailEvent()
  onAny(event: EmailStatusEvent): void {
    this.seen.push(event.type);
  }
}

@Module({ providers: [OutcomeRecorder, EverythingCounter, { provide: 'RECORDER_ALIAS', useExisting: OutcomeRecorder }] })
class HostFeatureModule {}

describe('@OnEmailEvent handlers (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;
  let app: TestingModule;
  let statuses: EmailStatusService;

  const event = (emailId: string, type: EmailEventType, detail: EmailEventMessage['detail'] = {}): EmailEventMessage => ({
    version: CONTRACT_VERSION,
    eventId: randomUUID(),
    type,
    emailId,
    occurredAt: new Date().toISOString(),
    detail,
  });

  async function newEmail(): Promise<string> {
    const id = randomUUID();
    await new EmailRepository().insert(dataSource.manager, {
      id,
      idempotencyKey: null,
      requestHash: 'h',
      lane: 'transactional',
      recipients: { to: ['a@example.test'] },
      subject: 's',
      metadata: { order: '42' },
      expiresAt: null,
    });
    return id;
  }

  const outcomes = (emailId: string): Promise<{ type: string; status: string; changed: boolean }[]> =>
    dataSource.query(`SELECT type, status, changed FROM host_outcomes WHERE email_id = $1 ORDER BY type`, [emailId]);

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('email_handlers_int', EMAIL_MIGRATIONS));
    await dataSource.query(
      `CREATE TABLE host_outcomes (event_id uuid PRIMARY KEY, email_id uuid NOT NULL, type text NOT NULL, status text NOT NULL, changed boolean NOT NULL)`,
    );
    app = await Test.createTestingModule({
      imports: [DiscoveryModule, HostFeatureModule, InboxModule.forRoot({ schema: DEFAULT_EMAIL_SCHEMA })],
      providers: [
        { provide: DataSource, useValue: dataSource },
        { provide: EMAIL_OPTIONS, useValue: { schema: DEFAULT_EMAIL_SCHEMA } },
        EmailRepository,
        EmailEventHandlers,
        EmailStatusService,
      ],
    }).compile();
    await app.init();
    statuses = app.get(EmailStatusService);
  });

  beforeEach(() => {
    app.get(EverythingCounter).seen.length = 0;
  });

  afterAll(async () => {
    await app?.close();
    await dropMigratedDatabase(dataSource, url);
  });

  it('calls the handlers of the event type once, in the transaction that applies the event', async () => {
    const emailId = await newEmail();
    const sent = event(emailId, 'email.sent', { attempt: 1, messageId: '<m@x>' });

    expect(await statuses.apply(event(emailId, 'email.retrying', { attempt: 1 }))).toBe('processed');
    expect(await statuses.apply(sent)).toBe('processed');
    expect(await statuses.apply(sent)).toBe('duplicate');

    expect(await outcomes(emailId)).toEqual([{ type: 'email.sent', status: 'sent', changed: true }]);
    expect(app.get(EverythingCounter).seen).toEqual(['email.retrying', 'email.sent']);
  });

  it('rolls the status back with the handler when the handler fails, and applies both on redelivery', async () => {
    const emailId = await newEmail();
    const failed = event(emailId, 'email.failed', { attempt: 1, smtpResponse: '550 no such user' });
    app.get(OutcomeRecorder).failNext = true;

    await expect(statuses.apply(failed)).rejects.toThrow('host handler failed after writing');
    const [before] = await dataSource.query(`SELECT status FROM email_loop.emails WHERE id = $1`, [emailId]);
    expect(before.status).toBe('queued');
    expect(await outcomes(emailId)).toEqual([]);

    expect(await statuses.apply(failed)).toBe('processed');
    const [after] = await dataSource.query(`SELECT status, smtp_response FROM email_loop.emails WHERE id = $1`, [emailId]);
    expect(after).toEqual({ status: 'failed', smtp_response: '550 no such user' });
    expect(await outcomes(emailId)).toEqual([{ type: 'email.failed', status: 'failed', changed: true }]);
  });

  it('hands a late event over with statusChanged false and the current status', async () => {
    const emailId = await newEmail();
    await statuses.apply(event(emailId, 'email.failed', { attempt: 2 }));
    expect(await statuses.apply(event(emailId, 'email.sent', { attempt: 1 }))).toBe('skipped');

    expect(await outcomes(emailId)).toEqual([
      { type: 'email.failed', status: 'failed', changed: true },
      { type: 'email.sent', status: 'failed', changed: false },
    ]);
  });
});
