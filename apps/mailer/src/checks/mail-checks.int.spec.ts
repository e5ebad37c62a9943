import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { Clock, IdGenerator } from '@app/common';
import { CONTRACT_VERSION, type EmailRequestedMessage } from '@app/contracts';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter } from '@app/outbox';
import { bullConnection } from '@app/queue';
import { createMigratedDatabase, dropMigratedDatabase, statementLoggingDataSource } from '@app/testing';
import { loadMailerConfig, type MailerConfig } from '../config.js';
import { MAILER_MIGRATIONS } from '../database/migrations.js';
import { MailEvents } from '../events/mail-events.js';
import { FINAL_STATUSES, MailRequestsRepository } from '../requests/mail-requests.repository.js';
import { MailCancelsService } from '../requests/mail-cancels.service.js';
import { MailRequestsService } from '../requests/mail-requests.service.js';
import { SendQueue, sendQueueName } from '../sending/send-queue.js';
import { SendJobSweeper } from '../sending/send-job-sweeper.js';
import { SuppressionCheck } from '../suppressions/suppression.check.js';
import { SuppressionsRepository } from '../suppressions/suppressions.repository.js';
import { DedupCheck } from './dedup.check.js';
import { ExpiryCheck } from './expiry.check.js';
import { FrequencyCapCheck } from './frequency-cap.check.js';
import { HeaderInjectionCheck } from './header-injection.check.js';
import { MailCheckChain } from './mail-check-chain.service.js';
import { MessageSizeCheck } from './message-size.check.js';
import { RecipientCountCheck } from './recipient-count.check.js';
import { SendLimitsRepository } from './send-limits.repository.js';

/**
 * The validation chain inside `MailRequestsService.acceptBatch`, on real PostgreSQL: each check
 * ends the requests it should, in their final status with the event and its code, in the batch's
 * transaction, without a send job; a batch every check passes costs one extra query (the
 * suppression list); dedup and caps are correct across concurrent batches.
 */
describe('the mailer checks (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;
  const suppressions = new SuppressionsRepository();
  const limits = new SendLimitsRepository();
  const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const queuePrefix = `mail-checks-int-${randomUUID().slice(0, 8)}`;
  const queues: SendQueue[] = [];
  const inspected: Queue[] = [];
  /** The email ids of every send job in Redis, both lanes. */
  const jobIds = async (): Promise<string[]> =>
    (await Promise.all(inspected.map((q) => q.getJobs(['waiting', 'delayed', 'active', 'prioritized'])))).flat().map((job) => job.id!).sort();

  const config = (env: Record<string, string> = {}): MailerConfig =>
    loadMailerConfig({
      MAILER_DATABASE_URL: url,
      KAFKA_BROKERS: '127.0.0.1:9092',
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      SMTP_URL: 'smtp://127.0.0.1:2525',
      MAIL_MAX_MESSAGE_BYTES: '4096',
      MAIL_MAX_RECIPIENTS: '3',
      DEDUP_WINDOW_SECONDS: '60',
      DEDUP_CATEGORIES: 'receipt:600',
      FREQUENCY_CAP: 'newsletter:2',
      ...env,
    });

  /** The service with the default chain, as `MAIL_CHECKS_IN_ORDER` registers it, on `db` at the clock's `now`. */
  function build(options: { db?: DataSource; now?: () => Date; env?: Record<string, string> } = {}): MailRequestsService {
    const c = config(options.env);
    const clock = new Clock();
    if (options.now) vi.spyOn(clock, 'now').mockImplementation(options.now);
    const chain = new MailCheckChain([
      new HeaderInjectionCheck(),
      new RecipientCountCheck(c),
      new MessageSizeCheck(c),
      new ExpiryCheck(),
      new SuppressionCheck(suppressions),
      new DedupCheck(c, limits),
      new FrequencyCapCheck(c, limits),
    ]);
    const queue = new SendQueue(c);
    queue.onModuleInit();
    queues.push(queue);
    // Built, not bootstrapped: it never sweeps here.
    const sweeper = new SendJobSweeper(options.db ?? dataSource, new MailRequestsRepository(), queue, c);
    const events = new MailEvents(new OutboxWriter(), new KafkaTopics({ brokers: [], clientId: 'test' }), new IdGenerator(), clock);
    const db = options.db ?? dataSource;
    const repository = new MailRequestsRepository();
    return new MailRequestsService(db, repository, events, queue, sweeper, clock, chain, new MailCancelsService(db, repository, events, queue));
  }

  const request = (overrides: Partial<EmailRequestedMessage> & Record<string, unknown> = {}): EmailRequestedMessage => ({
    version: CONTRACT_VERSION,
    type: 'email.requested',
    emailId: randomUUID(),
    requestedAt: new Date().toISOString(),
    lane: 'transactional',
    to: [`${randomUUID().slice(0, 8)}@example.com`],
    subject: 'hello',
    text: 'x',
    ...overrides,
  });

  /** Status and event (type, code) of each request, in order. */
  async function outcomes(requests: readonly EmailRequestedMessage[]): Promise<{ status: string; event: string; code: string | null }[]> {
    const rows: { emailId: string; status: string; event: string; code: string | null }[] = await dataSource.query(
      `SELECT r.email_id AS "emailId", r.status, o.payload->>'type' AS event, o.payload->'detail'->>'code' AS code
       FROM mail_requests r JOIN outbox o ON o.message_key = r.email_id::text WHERE r.email_id = ANY($1)`,
      [requests.map((r) => r.emailId)],
    );
    return requests.map((r) => {
      const row = rows.find((x) => x.emailId === r.emailId);
      return row ? { status: row.status, event: row.event, code: row.code } : { status: 'missing', event: 'missing', code: null };
    });
  }
  const accepted = { status: 'pending', event: 'email.accepted', code: null };
  const ended = (status: string, code: string) => ({ status, event: `email.${status}`, code });

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('mail_checks_int', MAILER_MIGRATIONS));
    for (const lane of ['transactional', 'bulk'] as const) {
      inspected.push(new Queue(sendQueueName(lane), { connection: bullConnection(REDIS_URL), prefix: queuePrefix }));
    }
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(queues.splice(0).map((queue) => queue.onApplicationShutdown()));
    await Promise.all(inspected.map((queue) => queue.obliterate({ force: true })));
    await dataSource.query('TRUNCATE mail_attempts, mail_requests, outbox, suppressions, mail_dedup_keys, mail_frequency_counts');
  });

  afterAll(async () => {
    await Promise.all(inspected.map((queue) => queue.close()));
    await dropMigratedDatabase(dataSource, url);
  });

  it('rejects header injection, too many recipients and an oversized message (in bytes), expires a late one, and sends the rest', async () => {
    const ok = request();
    const injected = request({ subject: 'Hi\r\nBcc: victim@example.com' });
    const injectedHeader = request({ headers: { 'X-Campaign': 'a\nBcc: victim@example.com' } });
    const crowded = request({ to: ['a@example.com', 'b@example.com'], cc: ['c@example.com'], bcc: ['d@example.com'] });
    // 1,500 characters, 6,000 bytes: over the 4,096-byte limit only when counted in bytes.
    const large = request({ text: '😀'.repeat(1_500) });
    const late = request({ expiresAt: new Date(Date.now() - 1_000).toISOString() });
    const batch = [ok, injected, injectedHeader, crowded, large, late];

    expect(await build().acceptBatch(batch)).toEqual(batch.map(() => 'processed'));
    expect(await outcomes(batch)).toEqual([
      accepted,
      ended('rejected', 'header_injection'),
      ended('rejected', 'header_injection'),
      ended('rejected', 'too_many_recipients'),
      ended('rejected', 'message_too_large'),
      ended('expired', 'expired'),
    ]);
    const [detail] = await dataSource.query(`SELECT payload->'detail' AS detail FROM outbox WHERE message_key = $1`, [large.emailId]);
    expect(detail.detail.reason).toMatch(/\d+ bytes, the limit is 4096/);
    expect(await jobIds()).toEqual([ok.emailId]);
  });

  it('suppresses mail to a listed address (any case), by a category-less entry or one of its category, with no send job', async () => {
    await suppressions.addMany(dataSource.manager, [
      { address: 'Bounced@Example.com', category: null, reason: 'hard_bounce', sourceEmailId: null },
      { address: 'reader@example.com', category: 'newsletter', reason: 'unsubscribed', sourceEmailId: null },
    ]);
    const bounced = request({ to: ['ok@example.com'], cc: ['bounced@EXAMPLE.com'] });
    const newsletter = request({ to: ['READER@example.com'], category: 'newsletter', lane: 'bulk' });
    const receipt = request({ to: ['reader@example.com'], category: 'receipt' });
    const batch = [bounced, newsletter, receipt];

    await build().acceptBatch(batch);
    expect(await outcomes(batch)).toEqual([ended('suppressed', 'suppressed'), ended('suppressed', 'suppressed'), accepted]);
    const [event] = await dataSource.query(`SELECT payload->'detail' AS detail FROM outbox WHERE message_key = $1`, [bounced.emailId]);
    expect(event.detail.reason).toMatch(/bounced@EXAMPLE\.com is on the suppression list \(hard_bounce\)/);
    expect(await jobIds()).toEqual([receipt.emailId]);
  });

  it('costs one query per batch for the suppression list, and nothing for dedup and caps a batch does not use', async () => {
    const { dataSource: logged, statements } = await statementLoggingDataSource(url);
    try {
      const batch = Array.from({ length: 50 }, () => request());
      await build({ db: logged }).acceptBatch(batch);
      const inTransaction = statements.slice(statements.indexOf('START TRANSACTION') + 1, statements.indexOf('COMMIT'));
      // The insert, the suppression list, the events (no dedup key, no counter, no status update).
      expect(inTransaction).toHaveLength(3);
      expect(inTransaction.filter((s) => /suppressions/.test(s))).toHaveLength(1);
    } finally {
      await logged.destroy();
    }
  });

  it('sends the same bulk email once per window (the rest deduplicated), never dedups transactional mail by default, and lets a window end', async () => {
    let now = new Date('2026-11-24T10:00:00Z');
    const service = build({ now: () => now });
    const newsletter = { lane: 'bulk' as const, to: ['ada@example.com'], subject: 'Weekly', html: '<p>news</p>' };
    const first = request(newsletter);
    const sameInBatch = request({ ...newsletter, to: ['ADA@example.com'] });
    const other = request({ ...newsletter, subject: 'Another' });
    const code1 = request({ to: ['ada@example.com'], subject: 'Your code', text: '1234' });
    const code2 = request({ to: ['ada@example.com'], subject: 'Your code', text: '1234' });
    await service.acceptBatch([first, sameInBatch, other, code1, code2]);
    const later = request(newsletter);
    await service.acceptBatch([later]);
    expect(await outcomes([first, sameInBatch, other, code1, code2, later])).toEqual([
      accepted,
      ended('deduplicated', 'duplicate'),
      accepted,
      accepted,
      accepted,
      ended('deduplicated', 'duplicate'),
    ]);
    // A category's own window applies on any lane.
    const receipt = { to: ['bob@example.com'], subject: 'Receipt', text: 'r', category: 'receipt' };
    const [r1, r2] = [request(receipt), request(receipt)];
    await service.acceptBatch([r1, r2]);
    expect(await outcomes([r1, r2])).toEqual([accepted, ended('deduplicated', 'duplicate')]);

    now = new Date(now.getTime() + 61_000); // the bulk window (60 s) is over
    const afterWindow = request(newsletter);
    await service.acceptBatch([afterWindow]);
    expect(await outcomes([afterWindow])).toEqual([accepted]);
  });

  // Every final status but `sent` releases (a new one too: the trigger's list must follow
  // FINAL_STATUSES); `unknown` may have been delivered and keeps its claim until reconciled.
  it.each([
    ...FINAL_STATUSES.filter((status) => status !== 'sent' && status !== 'deduplicated').map((status) => [status, false] as const),
    ...(['sent', 'unknown', 'retrying'] as const).map((status) => [status, true] as const),
  ])('the dedup claim of an email that ends %s is released unless it was or may have been sent (kept: %s)', async (status, kept) => {
    const service = build();
    const newsletter = { lane: 'bulk' as const, to: ['claims@example.com'], subject: 'Weekly', html: '<p>news</p>' };
    const first = request(newsletter);
    await service.acceptBatch([first]);
    // Whichever statement writes the status, the same rule applies (the release is the table's, not a caller's).
    await dataSource.query(`UPDATE mail_requests SET status = $2, updated_at = now() WHERE email_id = $1`, [first.emailId, status]);
    const again = request(newsletter);
    await service.acceptBatch([again]);
    expect(await outcomes([again])).toEqual([kept ? ended('deduplicated', 'duplicate') : accepted]);
    const holders: { emailId: string }[] = await dataSource.query(`SELECT email_id AS "emailId" FROM mail_dedup_keys`);
    expect(holders).toEqual([{ emailId: kept ? first.emailId : again.emailId }]);
  });

  it('releases the claim of an email a later check rejects in the same batch, and of a canceled one', async () => {
    const service = build();
    // The third newsletter of the day: its dedup claim is taken, then the frequency cap rejects it.
    const issue = (n: number) => request({ lane: 'bulk', to: ['capped@example.com'], category: 'newsletter', subject: `Issue ${n}` });
    const [n1, n2, n3] = [issue(1), issue(2), issue(3)];
    await service.acceptBatch([n1, n2, n3]);
    expect(await outcomes([n3])).toEqual([ended('rejected', 'frequency_cap')]);
    const held: { emailId: string }[] = await dataSource.query(`SELECT email_id AS "emailId" FROM mail_dedup_keys ORDER BY email_id`);
    expect(held.map((h) => h.emailId).sort()).toEqual([n1.emailId, n2.emailId].sort());

    const repository = new MailRequestsRepository();
    await dataSource.transaction((manager) => repository.cancelMany(manager, [n1.emailId]));
    const resent = request({ lane: 'bulk', to: ['capped@example.com'], category: 'newsletter', subject: 'Issue 1' });
    await build({ env: { FREQUENCY_CAP: 'newsletter:5' } }).acceptBatch([resent]);
    expect(await outcomes([resent])).toEqual([accepted]);
  });

  it('does not check a redelivered request again: no dedup against itself, no second count', async () => {
    const service = build();
    const capped = request({ lane: 'bulk', to: ['cap@example.com'], category: 'newsletter', subject: 'n1' });
    await service.acceptBatch([capped]);
    expect(await service.acceptBatch([capped])).toEqual(['duplicate']);
    expect(await outcomes([capped])).toEqual([accepted]);
    expect(await dataSource.query(`SELECT count FROM mail_frequency_counts`)).toEqual([{ count: 1 }]);
  });

  it('rejects the (N+1)th email of a capped category to a recipient in a UTC day with frequency_cap, and starts again the next day', async () => {
    let now = new Date('2026-11-24T23:00:00Z');
    const service = build({ now: () => now });
    const issue = (n: number, to = 'reader@example.com') => request({ lane: 'bulk', to: [to], category: 'newsletter', subject: `Issue ${n}` });
    const [n1, n2, n3] = [issue(1), issue(2), issue(3)];
    await service.acceptBatch([n1]);
    await service.acceptBatch([n2, n3, issue(4, 'someone-else@example.com')]);
    expect(await outcomes([n1, n2, n3])).toEqual([accepted, accepted, ended('rejected', 'frequency_cap')]);
    // Uncapped categories and mail without a category are not counted.
    const receipt = request({ to: ['reader@example.com'], category: 'receipt', subject: 'r' });
    await service.acceptBatch([receipt]);
    expect(await outcomes([receipt])).toEqual([accepted]);

    now = new Date('2026-11-25T00:00:01Z');
    const tomorrow = issue(5);
    await service.acceptBatch([tomorrow]);
    expect(await outcomes([tomorrow])).toEqual([accepted]);
  });

  it('leaves no dedup key and no count behind when the batch rolls back, so its redelivery is checked afresh', async () => {
    const service = build();
    const newsletter = request({ lane: 'bulk', to: ['again@example.com'], category: 'newsletter', subject: 'n' });
    vi.spyOn(MailEvents.prototype, 'recordMany').mockRejectedValueOnce(new Error('outbox unavailable'));
    await expect(service.acceptBatch([newsletter])).rejects.toThrow('outbox unavailable');
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM mail_dedup_keys`)).toEqual([{ n: 0 }]);
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM mail_frequency_counts`)).toEqual([{ n: 0 }]);

    expect(await service.acceptBatch([newsletter])).toEqual(['processed']);
    expect(await outcomes([newsletter])).toEqual([accepted]);
    expect(await dataSource.query(`SELECT count FROM mail_frequency_counts`)).toEqual([{ count: 1 }]);
  });

  it('never lets concurrent batches of two instances exceed the cap or send one email twice', async () => {
    const dbs = await Promise.all([0, 1].map(() => statementLoggingDataSource(url)));
    try {
      const [a, b] = dbs.map(({ dataSource: db }) => build({ db }));
      const newsletter = (n: number) => request({ lane: 'bulk', to: ['race@example.com'], category: 'newsletter', subject: `Issue ${n}` });
      const batches = [[newsletter(1), newsletter(2)], [newsletter(3), newsletter(4)], [newsletter(5)], [newsletter(6)]];
      const same = { lane: 'bulk' as const, to: ['twice@example.com'], subject: 'Same', text: 'same' };
      const twins = [request(same), request(same)];
      await Promise.all([a!.acceptBatch([...batches[0]!, twins[0]!]), b!.acceptBatch([...batches[1]!, twins[1]!]), a!.acceptBatch(batches[2]!), b!.acceptBatch(batches[3]!)]);
      const capped = await outcomes(batches.flat());
      expect(capped.filter((o) => o.status === 'pending')).toHaveLength(2);
      expect(capped.filter((o) => o.code === 'frequency_cap')).toHaveLength(4);
      const twinOutcomes = await outcomes(twins);
      expect(twinOutcomes.filter((o) => o.status === 'pending')).toHaveLength(1);
      expect(twinOutcomes.filter((o) => o.status === 'deduplicated')).toHaveLength(1);
    } finally {
      await Promise.all(dbs.map(({ dataSource: db }) => db.destroy()));
    }
  });
});
