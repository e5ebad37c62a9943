import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Clock, describeError } from '@app/common';
import type { EmailCancelRequestedMessage, EmailRequestedMessage } from '@app/contracts';
import type { HandlerOutcome } from '@app/kafka';
import { MailCheckChain } from '../checks/mail-check-chain.service.js';
import type { CheckVerdict } from '../checks/mail-check.js';
import { MailEvents, type MailEvent } from '../events/mail-events.js';
import { SendQueue, type SendJobItem } from '../sending/send-queue.js';
import { SendJobSweeper } from '../sending/send-job-sweeper.js';
import { MailCancelsService } from './mail-cancels.service.js';
import { MailRequestsRepository, OPEN_STATUSES, uuidKey, type MailRequestStatus, type NewMailRequest } from './mail-requests.repository.js';

/**
 * Accepts email requests from Kafka, a batch at a time. Invariants:
 *
 * - Each email id is recorded once (unique on email id), with exactly one event, in the same
 *   transaction: a batch is recorded whole or not at all. The event is `accepted`, or, when one
 *   of the checks (`MailCheckChain`) ended the request, the event of its final status
 *   (`expired`, `rejected`, `suppressed`, `deduplicated`) with the check's `code` and reason.
 * - Only new requests are checked, inside the transaction (what a check writes commits with the
 *   batch); a request a check ended gets no send job. What a check asks outside the database
 *   (DNS) is asked before the transaction opens (`MailCheckChain.prepare`).
 * - Cancels that come in the same run as requests are applied in the same transaction, before any
 *   send job is made (`acceptRun`): the cancel wins, as it would a batch later. A batch every check passes costs no
 *   statement beyond the checks' own (one each at most, and none for checks of features the
 *   batch does not use).
 * - A request whose `sendAt` is ahead is recorded `scheduled` with its time (`send_at`), and its
 *   job is a delayed one that fires then; PostgreSQL keeps the time, Redis only the timer.
 * - Outcomes come back one per request, in order: `processed` for the request that recorded its
 *   email, `duplicate` for one already known (from the database, or earlier in the same batch).
 * - Every email still open after the transaction gets its send job ensured, also a redelivered
 *   one, so a crash between commit and enqueue loses nothing. Jobs are keyed by email id: never
 *   two jobs for one email.
 * - The enqueue never fails or holds up the Kafka handler: when Redis does not answer (within the
 *   queue's deadline) the requests are already safe in PostgreSQL, and the sweeper is asked to
 *   create their jobs as soon as Redis is back.
 */
@Injectable()
export class MailRequestsService {
  private readonly logger = new Logger(MailRequestsService.name);
  private deferred = 0;
  private lastDeferralLogAt = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly requests: MailRequestsRepository,
    private readonly events: MailEvents,
    private readonly queue: SendQueue,
    private readonly sweeper: SendJobSweeper,
    private readonly clock: Clock,
    private readonly checks: MailCheckChain,
    private readonly cancels: MailCancelsService,
  ) {}

  async accept(request: EmailRequestedMessage): Promise<HandlerOutcome> {
    const [outcome] = await this.acceptBatch([request]);
    return outcome!;
  }

  /** Records the batch in one transaction, then ensures the send jobs of its open emails with one bulk enqueue. */
  async acceptBatch(requests: readonly EmailRequestedMessage[]): Promise<HandlerOutcome[]> {
    return (await this.acceptRun(requests, [])).requests;
  }

  /**
   * {@link acceptBatch} for a run of a lane topic that also carries cancels: the cancels are
   * applied in the transaction that records the requests, after them (a cancel follows its request
   * in the partition), and before any send job exists, so a cancel in the same run as its request
   * always wins: the email ends `canceled` and no job is made for it.
   */
  async acceptRun(
    requests: readonly EmailRequestedMessage[],
    cancels: readonly EmailCancelRequestedMessage[],
  ): Promise<{ requests: HandlerOutcome[]; cancels: HandlerOutcome[] }> {
    if (requests.length === 0 && cancels.length === 0) return { requests: [], cancels: [] };
    // A redelivery can bring one email twice in a batch: the first copy is the one recorded.
    const unique = firstOfEach(requests);
    // What the checks look up on the network (DNS) is looked up now, for the whole batch: the
    // transaction below never waits on it while holding a connection and the batch's row locks.
    const prepared = await this.checks.prepare(unique);
    const now = this.clock.now();
    // Recorded `pending` (or `scheduled`) first: only the insert knows which requests are new, and only those are checked.
    const rows: NewMailRequest[] = unique.map((request) => ({ request, status: initialStatus(request, now) }));
    const { inserted, canceled } = await this.dataSource.transaction(async (manager) => {
      const isNew = await this.requests.insertMany(manager, rows);
      const fresh = rows.filter((row) => isNew.has(row.request.emailId));
      const verdicts = await this.checks.run(
        fresh.map((row) => row.request),
        manager,
        now,
        prepared,
      );
      const ended = fresh.flatMap((row, i) => {
        const verdict = verdicts[i];
        if (!verdict) return [];
        row.status = verdict.status;
        return [{ emailId: row.request.emailId, status: verdict.status, reason: verdict.reason }];
      });
      await this.requests.endMany(manager, ended);
      await this.events.recordMany(
        manager,
        fresh.map((row, i) => eventOf(row, verdicts[i] ?? null)),
      );
      return { inserted: isNew, canceled: cancels.length > 0 ? await this.cancels.apply(manager, cancels) : null };
    });
    if (canceled) {
      const keys = new Set(canceled.canceled.map((row) => uuidKey(row.emailId)));
      for (const row of rows) if (keys.has(uuidKey(row.request.emailId))) row.status = 'canceled';
    }
    await this.enqueueOrDefer(await this.openJobs(rows, inserted));
    return {
      requests: outcomesOf(requests, inserted),
      cancels: canceled ? await this.cancels.afterCommit(cancels, canceled) : [],
    };
  }

  /**
   * The send jobs to ensure: new requests no check ended, and known ones the
   * database still holds open (their job may have been lost before the redelivery).
   */
  private async openJobs(rows: readonly NewMailRequest[], inserted: ReadonlySet<string>): Promise<SendJobItem[]> {
    const known = rows.filter((row) => !inserted.has(row.request.emailId)).map((row) => row.request.emailId);
    const statuses = await this.requests.findMany(this.dataSource.manager, known);
    return rows
      .filter(({ request, status }) => {
        const current = inserted.has(request.emailId) ? status : statuses.get(request.emailId);
        return current !== undefined && OPEN_STATUSES.includes(current);
      })
      .map(({ request }) => ({
        emailId: request.emailId,
        lane: request.lane,
        sendAt: request.sendAt ? new Date(request.sendAt) : null,
        recipients: recipientsOf(request),
      }));
  }

  private async enqueueOrDefer(jobs: readonly SendJobItem[]): Promise<void> {
    if (jobs.length === 0) return;
    try {
      await this.queue.enqueueMany(jobs);
    } catch (error) {
      this.deferred += jobs.length;
      // One line per outage and every 10 s during it, not one per email.
      if (Date.now() - this.lastDeferralLogAt > 10_000) {
        this.lastDeferralLogAt = Date.now();
        this.logger.warn(
          `${this.deferred} email(s) recorded without a send job so far (e.g. ${jobs[0]!.emailId}: ${describeError(error)}); the sweeper will create them`,
        );
      }
      this.sweeper.sweepSoon();
    }
  }
}

function recipientsOf(request: EmailRequestedMessage): string[] {
  return [...request.to, ...(request.cc ?? []), ...(request.bcc ?? [])];
}

function firstOfEach(requests: readonly EmailRequestedMessage[]): EmailRequestedMessage[] {
  const byEmailId = new Map<string, EmailRequestedMessage>();
  for (const request of requests) if (!byEmailId.has(uuidKey(request.emailId))) byEmailId.set(uuidKey(request.emailId), request);
  return [...byEmailId.values()];
}

/** `scheduled` while its `sendAt` is ahead (its job waits for it), else `pending`; the checks may end it after. */
function initialStatus(request: EmailRequestedMessage, now: Date): MailRequestStatus {
  return request.sendAt !== undefined && Date.parse(request.sendAt) > now.getTime() ? 'scheduled' : 'pending';
}

/** The event of the final status a check ended the request in (with its code and reason), else `email.scheduled` or `email.accepted`. */
function eventOf({ request, status }: NewMailRequest, verdict: CheckVerdict | null): MailEvent {
  if (verdict) return { emailId: request.emailId, type: `email.${verdict.status}`, detail: { code: verdict.code, reason: verdict.reason } };
  if (status === 'scheduled') return { emailId: request.emailId, type: 'email.scheduled', detail: { sendAt: request.sendAt! } };
  return { emailId: request.emailId, type: 'email.accepted' };
}

/** `processed` for the first request of each email the batch recorded; `duplicate` for every other. */
function outcomesOf(requests: readonly EmailRequestedMessage[], inserted: ReadonlySet<string>): HandlerOutcome[] {
  const counted = new Set<string>();
  return requests.map(({ emailId }) => {
    const first = inserted.has(emailId) && !counted.has(uuidKey(emailId));
    counted.add(uuidKey(emailId));
    return first ? 'processed' : 'duplicate';
  });
}
