import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Injectable, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { DataSource, EntityManager } from 'typeorm';
import { CONTRACT_VERSION, type EmailEventMessage, type EmailEventType } from '@app/contracts';
import { InboxModule } from '@app/inbox';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { DEFAULT_EMAIL_SCHEMA, EMAIL_MIGRATIONS } from './index.js';
import { EMAIL_OPTIONS } from './email.options.js';
import { EmailEventHandlers, OnEmailEvent, OnEmailEvents, type EmailStatusEvent } from './email-event-handlers.js';
import { EmailRepository } from './email.repository.js';
import { EmailStatusService } from './email-status.service.js';
import { UnknownEmailEventError } from './email.errors.js';

/** A host app's handlers: remember every call (in memory, so that they add no statement). */
@Injectable()
class CallRecorder {
  readonly perEvent: EmailStatusEvent[] = [];
  readonly batches: EmailStatusEvent[][] = [];
  failOn: string | undefined;

  @OnEmailEvent()
  onEvent(event: EmailStatusEvent): void {
    this.perEvent.push(event);
    if (event.eventId === this.failOn) throw new Error('host handler failed');
  }

  @OnEmailEvents('email.sent', 'email.retrying')
  onBatch(events: EmailStatusEvent[]): void {
    this.batches.push(events);
  }
}

@Module({ providers: [CallRecorder] })
class HostFeatureModule {}

/** One event of a scenario: `email` and `key` name an email and an event of the scenario, not ids. */
interface ScenarioEvent {
  key: string;
  email: string;
  type: EmailEventType;
  detail?: EmailEventMessage['detail'];
}

/** The scenario's emails and events under fresh ids, so that one database can play it twice. */
class Cast {
  private readonly emailIds = new Map<string, string>();
  private readonly eventIds = new Map<string, string>();
  private readonly names = new Map<string, string>();

  constructor(private readonly startedAt = Date.parse('2030-01-01T00:00:00Z')) {}

  emailId(name: string): string {
    return this.idOf(this.emailIds, name);
  }

  message(event: ScenarioEvent): EmailEventMessage {
    const eventId = this.idOf(this.eventIds, event.key);
    return {
      version: CONTRACT_VERSION,
      eventId,
      type: event.type,
      emailId: this.emailId(event.email),
      // Distinct and in event order, so the history reads the same whichever way it was applied.
      occurredAt: new Date(this.startedAt + Number(event.key.slice(1)) * 1000).toISOString(),
      detail: event.detail ?? {},
    };
  }

  /** A handler call with the scenario's names in place of ids. */
  named(event: EmailStatusEvent): unknown {
    return { ...event, eventId: this.names.get(event.eventId), emailId: this.names.get(event.emailId) };
  }

  private idOf(ids: Map<string, string>, name: string): string {
    let id = ids.get(name);
    if (!id) {
      id = randomUUID();
      ids.set(name, id);
      this.names.set(id, name);
    }
    return id;
  }
}

describe('EmailStatusService.applyBatch (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;
  let app: TestingModule;
  let statuses: EmailStatusService;
  let recorder: CallRecorder;

  async function newEmails(cast: Cast, ...names: string[]): Promise<void> {
    for (const name of names) {
      await new EmailRepository().insert(dataSource.manager, {
        id: cast.emailId(name),
        idempotencyKey: null,
        requestHash: 'h',
        lane: 'transactional',
        recipients: { to: ['a@example.test'] },
        subject: 's',
        metadata: { name },
        expiresAt: null,
      });
    }
  }

  /** What applying left behind for these emails: their rows and their histories, by name. */
  async function stateOf(cast: Cast, names: string[]): Promise<unknown> {
    const repository = new EmailRepository();
    const state: Record<string, unknown> = {};
    for (const name of names) {
      const row = await repository.findById(dataSource.manager, cast.emailId(name));
      state[name] = {
        status: row?.status,
        attempt: row?.attempt,
        messageId: row?.messageId,
        smtpResponse: row?.smtpResponse,
        history: await repository.listEvents(dataSource.manager, cast.emailId(name)),
      };
    }
    return state;
  }

  const inboxed = async (events: EmailEventMessage[]): Promise<number> => {
    const [row] = await dataSource.query(`SELECT count(*)::int AS n FROM email_loop.inbox WHERE message_id = ANY($1)`, [
      events.map((e) => e.eventId),
    ]);
    return row.n;
  };

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('email_status_int', EMAIL_MIGRATIONS));
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
    recorder = app.get(CallRecorder);
  });

  beforeEach(() => {
    recorder.perEvent.length = 0;
    recorder.batches.length = 0;
    recorder.failOn = undefined;
  });

  afterAll(async () => {
    await app?.close();
    await dropMigratedDatabase(dataSource, url);
  });

  const before: ScenarioEvent[] = [{ key: 'e0', email: 'A', type: 'email.accepted' }];
  const batch: ScenarioEvent[] = [
    { key: 'e1', email: 'B', type: 'email.accepted' },
    { key: 'e0', email: 'A', type: 'email.accepted' }, // in the inbox already
    { key: 'e2', email: 'A', type: 'email.scheduled' },
    { key: 'e3', email: 'B', type: 'email.sent', detail: { attempt: 1, messageId: '<b@x>', smtpResponse: '250 ok' } },
    { key: 'e4', email: 'C', type: 'email.failed', detail: { attempt: 2, smtpResponse: '550 no such user', smtpCode: 550 } },
    { key: 'e1', email: 'B', type: 'email.accepted' }, // repeated within the batch
    { key: 'e5', email: 'A', type: 'email.retrying', detail: { attempt: 1, smtpResponse: '421 try later' } },
    { key: 'e6', email: 'B', type: 'email.retrying', detail: { attempt: 1, smtpResponse: '421 late' } }, // late: sent stays
    { key: 'e7', email: 'A', type: 'email.retrying', detail: { attempt: 2, smtpResponse: '421 try later' } },
  ];

  it('leaves the same rows, history, outcomes and handler calls as applying the events one by one', async () => {
    const oneByOne = new Cast();
    const batched = new Cast();
    await newEmails(oneByOne, 'A', 'B', 'C');
    await newEmails(batched, 'A', 'B', 'C');
    for (const event of before) {
      await statuses.apply(oneByOne.message(event));
      await statuses.apply(batched.message(event));
    }
    recorder.perEvent.length = 0;
    recorder.batches.length = 0;

    const outcomesOneByOne = [];
    for (const event of batch) outcomesOneByOne.push(await statuses.apply(oneByOne.message(event)));
    const callsOneByOne = recorder.perEvent.splice(0).map((e) => oneByOne.named(e));
    const batchCallsOneByOne = recorder.batches.splice(0).flat().map((e) => oneByOne.named(e));

    const outcomesBatched = await statuses.applyBatch(batch.map((e) => batched.message(e)));
    const callsBatched = recorder.perEvent.splice(0).map((e) => batched.named(e));

    expect(outcomesBatched).toEqual(outcomesOneByOne);
    expect(outcomesBatched).toEqual(['processed', 'duplicate', 'processed', 'processed', 'processed', 'duplicate', 'processed', 'skipped', 'processed']);
    expect(await stateOf(batched, ['A', 'B', 'C'])).toEqual(await stateOf(oneByOne, ['A', 'B', 'C']));
    expect(callsBatched).toEqual(callsOneByOne);
    // The batch handler got the batch in one call, with the same events as one call each gave it.
    expect(recorder.batches).toHaveLength(1);
    expect(recorder.batches[0]!.map((e) => batched.named(e))).toEqual(batchCallsOneByOne);

    // What both ways give, spelled out.
    expect(await stateOf(batched, ['B'])).toMatchObject({
      B: { status: 'sent', attempt: 1, messageId: '<b@x>', smtpResponse: '250 ok' },
    });
    expect((await stateOf(batched, ['A'])) as object).toMatchObject({ A: { status: 'retrying', attempt: 2, smtpResponse: '421 try later' } });
    expect(callsBatched.map((c) => c as { eventId: string; email: { status: string }; statusChanged: boolean })
      .map(({ eventId, email, statusChanged }) => [eventId, email.status, statusChanged])).toEqual([
      ['e1', 'accepted', true],
      ['e2', 'scheduled', true],
      ['e3', 'sent', true],
      ['e4', 'failed', true],
      ['e5', 'retrying', true],
      ['e6', 'sent', false],
      ['e7', 'retrying', true],
    ]);
  });

  it('runs the same four statements (and the handlers) whatever the size of the batch', async () => {
    const small = new Cast();
    const large = new Cast();
    await newEmails(small, 'A');
    await newEmails(large, 'A', 'B', 'C');
    const query = vi.spyOn(EntityManager.prototype, 'query');
    try {
      await statuses.applyBatch([small.message({ key: 'e1', email: 'A', type: 'email.accepted' })]);
      const forOne = query.mock.calls.length;
      query.mockClear();
      await statuses.applyBatch(batch.map((e) => large.message(e)));
      expect(query.mock.calls.length).toBe(forOne);
      expect(forOne).toBe(4);
    } finally {
      query.mockRestore();
    }
  });

  it('rolls the whole batch back when a handler throws: no status, no history, nothing in the inbox', async () => {
    const cast = new Cast();
    await newEmails(cast, 'A', 'B');
    const events = [
      cast.message({ key: 'e1', email: 'A', type: 'email.accepted' }),
      cast.message({ key: 'e2', email: 'B', type: 'email.sent', detail: { attempt: 1 } }),
      cast.message({ key: 'e3', email: 'A', type: 'email.retrying', detail: { attempt: 1 } }),
    ];
    recorder.failOn = events[1]!.eventId;

    await expect(statuses.applyBatch(events)).rejects.toThrow('host handler failed');
    expect(await stateOf(cast, ['A', 'B'])).toEqual({
      A: { status: 'queued', attempt: 0, messageId: null, smtpResponse: null, history: [] },
      B: { status: 'queued', attempt: 0, messageId: null, smtpResponse: null, history: [] },
    });
    expect(await inboxed(events)).toBe(0);

    recorder.failOn = undefined;
    expect(await statuses.applyBatch(events)).toEqual(['processed', 'processed', 'processed']);
    expect(await inboxed(events)).toBe(3);
  });

  it('throws UnknownEmailEventError for a batch naming an unknown email, and writes nothing', async () => {
    const cast = new Cast();
    await newEmails(cast, 'A');
    const events = [
      cast.message({ key: 'e1', email: 'A', type: 'email.accepted' }),
      cast.message({ key: 'e2', email: 'nobody', type: 'email.sent', detail: { attempt: 1 } }),
    ];

    const failure = statuses.applyBatch(events);
    await expect(failure).rejects.toBeInstanceOf(UnknownEmailEventError);
    await expect(failure).rejects.toMatchObject({ emailId: cast.emailId('nobody') });
    expect(await stateOf(cast, ['A'])).toMatchObject({ A: { status: 'queued', history: [] } });
    expect(await inboxed(events)).toBe(0);
    expect(recorder.perEvent).toEqual([]);
    // One at a time (how the transport retries a batch that threw), the known email's event applies.
    expect(await statuses.apply(events[0]!)).toBe('processed');
    await expect(statuses.apply(events[1]!)).rejects.toBeInstanceOf(UnknownEmailEventError);
  });

  it.each(['email.rejected', 'email.suppressed', 'email.deduplicated'] as const)(
    'applies %s (a mailer check) to a queued email as final, with its code, and no later event moves it',
    async (type) => {
      const cast = new Cast();
      await newEmails(cast, 'R');
      const ended = cast.message({ key: 'e1', email: 'R', type, detail: { code: 'some_check', reason: 'why' } });
      const late = [
        cast.message({ key: 'e2', email: 'R', type: 'email.accepted' }),
        cast.message({ key: 'e3', email: 'R', type: 'email.sent', detail: { attempt: 1 } }),
      ];
      expect(await statuses.applyBatch([ended])).toEqual(['processed']);
      expect(await statuses.applyBatch(late)).toEqual(['skipped', 'skipped']);
      const row = await new EmailRepository().findById(dataSource.manager, cast.emailId('R'));
      expect(row?.status).toBe(type.slice('email.'.length));
      const history = await new EmailRepository().listEvents(dataSource.manager, cast.emailId('R'));
      expect(history[0]).toMatchObject({ type, detail: { code: 'some_check', reason: 'why' } });
    },
  );

  it('returns no outcome for an empty batch', async () => {
    expect(await statuses.applyBatch([])).toEqual([]);
  });
});
