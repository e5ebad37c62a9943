import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import pRetry from 'p-retry';
import { Clock, describeError, isRetriable } from '@app/common';
import type { HandlerOutcome } from '@app/kafka';
import { MAILER_CONFIG, type MailerConfig, messageIdOf, unconfirmedSendPolicy } from '../config.js';
import { MailEvents } from '../events/mail-events.js';
import { MailRequestsRepository, OPEN_STATUSES, type MailRequestRow, type MailRequestStatus } from '../requests/mail-requests.repository.js';
import { LANES, type EmailEventDetail, type EmailEventType } from '@app/contracts';
import { isHardBounce, type RecipientRefusal } from '../suppressions/hard-bounce.js';
import { SuppressionCheck } from '../suppressions/suppression.check.js';
import { SuppressionsRepository } from '../suppressions/suppressions.repository.js';
import { AttemptInProgressError, NotDueYetError } from './attempt.errors.js';
import { SmtpDeferredError, SmtpRejectedError, SmtpUnconfirmedError } from './smtp.errors.js';
import { outgoingMessage } from './outgoing-message.js';
import { SmtpTransport } from './smtp.transport.js';
import { decideRetry, type RetryDecision } from './retry-policy.js';

/** An attempt just started: the request as it was, the attempt's number, and whether an earlier attempt's outcome is unconfirmed. */
interface StartedAttempt {
  request: MailRequestRow;
  attempt: number;
  possibleDuplicate: boolean;
}

/** How long a known SMTP outcome is kept trying to reach PostgreSQL; below the job lock's renewals. */
const OUTCOME_RECORD_DEADLINE_MS = 60_000;

/**
 * What one attempt came to: done (`processed`, or `skipped` when there was nothing to do or a
 * later attempt took over), or failed for now, to be tried again at `retryAt`: the time the
 * `email.retrying` event announced, which the queue must keep exactly.
 */
export type SendOutcome = HandlerOutcome | { retryAt: Date };

/**
 * Sends one email, once. The order of steps is the guarantee:
 *
 * 1. lock the request; skip it if it is already final (a redelivered job is a no-op); if
 *    another attempt is `sending` within its lease, wait for the lease instead of sending;
 * 2. commit `sending`, the attempt number and a lease *before* any SMTP traffic; the lease is
 *    renewed while the hand-off runs, so the attempt is taken as dead only once its worker
 *    stopped renewing it (crashed, or cut off from the database), never because a queue lost
 *    track of the job (Redis wiped or failed over, a lock that expired);
 * 3. hand the message over with a `Message-ID` derived from the email id;
 * 4. commit the outcome and its status event (outbox) in one transaction, fenced by the attempt
 *    number: a result that arrives after a later attempt started is not recorded.
 *
 * Per email that is two statements in the common case, each atomic on its own (a data-modifying
 * CTE, no BEGIN/COMMIT): steps 1–2 (`startNextAttempt`) and step 4 (`finishAttempt` with the
 * event's outbox row), plus a lease renewal every third of the lease while the hand-off runs.
 *
 * A crash between the server's `250` and step 4 leaves the request `sending`; once its lease ran
 * out, the next attempt sends again with the same `Message-ID`, or, on a lane configured to
 * `hold`, marks it `unknown` for reconciliation instead. A database outage in that window is
 * waited out instead (`recordOutcome`), so it does not resend. The same window without a crash
 * (the whole message went out, the server's reply never came: {@link SmtpUnconfirmedError}) takes
 * the same policy, never a plain retry. A resend is marked `possibleDuplicate` in its events.
 *
 * Whether an attempt may start at all (open, due, not expired, no recipient suppressed, not held)
 * is decided in the statement that starts it, for the first attempt and every retry alike.
 */
@Injectable()
export class MailSender {
  private readonly logger = new Logger(MailSender.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly requests: MailRequestsRepository,
    private readonly events: MailEvents,
    private readonly smtp: SmtpTransport,
    private readonly clock: Clock,
    @Inject(MAILER_CONFIG) private readonly config: MailerConfig,
    private readonly suppressions: SuppressionsRepository,
  ) {}

  async send(emailId: string): Promise<SendOutcome> {
    const startedAt = this.clock.now();
    const started = await this.start(emailId);
    if (!started) return 'skipped';
    const { request, attempt, possibleDuplicate } = started;
    const messageId = messageIdOf(this.config, emailId);
    const stopRenewing = this.keepLease(emailId, attempt);
    try {
      const receipt = await this.smtp.send(outgoingMessage(request.payload, { messageId, from: this.config.MAIL_FROM }), request.lane);
      const recorded = await this.finish(
        emailId,
        attempt,
        { status: 'sent', outcome: 'sent', messageId: receipt.messageId, smtpResponse: receipt.response },
        'email.sent',
        {
          attempt,
          messageId: receipt.messageId,
          smtpResponse: receipt.response.slice(0, 2_000),
          ...(receipt.rejected.length > 0 && { rejectedRecipients: receipt.rejected }),
          ...(possibleDuplicate && { possibleDuplicate }),
        },
        this.suppressHardBounces(emailId, receipt.refused),
      );
      return recorded ? 'processed' : 'skipped';
    } catch (error) {
      if (error instanceof SmtpRejectedError) {
        return (await this.fail(emailId, attempt, error, { code: error.code, reason: error.message })) ? 'processed' : 'skipped';
      }
      if (error instanceof SmtpDeferredError) return this.retryOrFail(emailId, attempt, attempt === 1 ? startedAt : null, error);
      if (error instanceof SmtpUnconfirmedError) return this.unconfirmed(request, attempt, attempt === 1 ? startedAt : null, error);
      throw error; // not an SMTP outcome (e.g. the database went away): the queue's own back-off retries
    } finally {
      stopRenewing();
    }
  }

  /**
   * Steps 1 and 2; returns null when there is nothing to send. The common case (an open request
   * to attempt now) is one statement; anything else is decided here under the row's lock.
   */
  private async start(emailId: string): Promise<StartedAttempt | null> {
    const started = await this.requests.startNextAttempt(this.dataSource.manager, emailId, {
      leaseMs: this.config.SEND_ATTEMPT_LEASE_MS,
      now: this.clock.now(),
      holdLanes: LANES.filter((lane) => unconfirmedSendPolicy(this.config, lane) === 'hold'),
    });
    return started ?? this.startUncommon(emailId);
  }

  /**
   * The cases {@link MailRequestsRepository.startNextAttempt} leaves to us: missing or final
   * (canceled among them), attempt in progress, held, expired, not due yet, suppressed. The row may
   * have changed since that statement, so every case is checked again, including the common one.
   */
  private async startUncommon(emailId: string): Promise<StartedAttempt | null> {
    return this.dataSource.transaction(async (manager) => {
      const request = await this.requests.find(manager, emailId, { lock: true });
      if (!request || !OPEN_STATUSES.includes(request.status)) return null;
      const now = this.clock.now();
      // Another worker's attempt is alive (renewing its lease): it may be talking SMTP right now.
      // Checked first: not even expiry may overwrite an attempt that can still succeed.
      if (request.status === 'sending' && request.leaseActive) throw new AttemptInProgressError(emailId, request.attempts);
      // Before expiry: the last attempt may have been delivered, and `expired` would say it was not.
      if (request.status === 'sending' && unconfirmedSendPolicy(this.config, request.lane) === 'hold') {
        await this.holdUnconfirmed(manager, request);
        return null;
      }
      if (request.expiresAt && request.expiresAt <= now) {
        await this.requests.setStatus(manager, emailId, 'expired');
        await this.events.record(manager, emailId, 'email.expired', { reason: 'expired before it could be sent' });
        return null;
      }
      // A scheduled email is sent at its time, a retry at the time its event announced; never before, whatever woke the job.
      if (request.sendAt && request.sendAt > now) throw new NotDueYetError(emailId, request.sendAt, 'scheduled');
      if (request.status === 'retrying' && request.nextAttemptAt && request.nextAttemptAt > now) throw new NotDueYetError(emailId, request.nextAttemptAt, 'retry');
      // An address suppressed (bounced, unsubscribed) since the email arrived stops every later
      // attempt too: the arrival check's rule and event, applied again at the start.
      const [suppressed] = await new SuppressionCheck(this.suppressions).check({ requests: [request.payload], manager, now, prepared: undefined });
      if (suppressed) {
        await this.requests.setStatus(manager, emailId, 'suppressed', suppressed.reason);
        await this.events.record(manager, emailId, 'email.suppressed', { code: suppressed.code, reason: suppressed.reason });
        return null;
      }
      const attempt = request.attempts + 1;
      const { possibleDuplicate } = await this.requests.startAttempt(manager, emailId, attempt, this.config.SEND_ATTEMPT_LEASE_MS);
      return { request, attempt, possibleDuplicate };
    });
  }

  /**
   * `sending` at the start of an attempt means the previous one began an SMTP hand-off and never
   * recorded how it ended: the server may have the message. On a `hold` lane it is not sent
   * again but marked `unknown` until someone reconciles it (`ReconciliationService`).
   */
  private async holdUnconfirmed(manager: EntityManager, request: MailRequestRow): Promise<void> {
    const reason = `attempt ${request.attempts} began an SMTP hand-off whose outcome was never recorded; held for reconciliation`;
    this.logger.warn(`email ${request.emailId}: ${reason}`);
    await this.requests.finishAttempt(
      manager,
      request.emailId,
      request.attempts,
      { status: 'unknown', outcome: 'unknown', error: reason },
      'sending',
      this.events.insert(request.emailId, 'email.unknown', { attempt: request.attempts, reason }),
    );
    this.events.written(manager);
  }

  /**
   * A temporary failure: decides, once, whether and when the next attempt runs (`SEND_MAX_ATTEMPTS`,
   * `SEND_RETRY_WINDOW_MS`, back-off with jitter, see {@link decideRetry}) and records it. The
   * attempt count is PostgreSQL's (`attempt`), not the queue's, so a job rebuilt after Redis lost
   * it cannot restart the count. `firstAttemptAt` is known in memory on attempt 1; later ones
   * read it (one query, on this failure path only).
   */
  private async retryOrFail(emailId: string, attempt: number, firstAttemptAt: Date | null, error: SmtpDeferredError): Promise<SendOutcome> {
    const decision = await this.decideRetry(emailId, attempt, firstAttemptAt);
    if (!decision.retry) {
      const recorded = await this.fail(emailId, attempt, error, { code: decision.code, reason: `${decision.reason}; last failure: ${error.message}` });
      return recorded ? 'processed' : 'skipped';
    }
    // A later attempt owns the email when this is not recorded: nothing for the queue to retry.
    return (await this.defer(emailId, attempt, error, decision.nextAttemptAt)) ? { retryAt: decision.nextAttemptAt } : 'skipped';
  }

  /** {@link decideRetry} with the configured policy and the request's retry window. */
  private async decideRetry(emailId: string, attempt: number, firstAttemptAt: Date | null): Promise<RetryDecision> {
    const now = this.clock.now();
    const windowStart = firstAttemptAt ?? (await this.requests.firstAttemptStartedAt(this.dataSource.manager, emailId)) ?? now;
    return decideRetry(attempt, windowStart, now, {
      maxAttempts: this.config.SEND_MAX_ATTEMPTS,
      baseDelayMs: this.config.SEND_RETRY_BASE_MS,
      maxDelayMs: this.config.SEND_RETRY_MAX_DELAY_MS,
      windowMs: this.config.SEND_RETRY_WINDOW_MS,
    });
  }

  /**
   * The whole message went out and the server's reply never came: it may have been delivered.
   * The lane's `UNCONFIRMED_SEND_*` policy decides, as after a crash in the window: `hold` ends
   * the attempt `unknown` (`email.unknown`) for reconciliation; `resend` schedules the next
   * attempt like a deferral, its `email.retrying` marked `possibleDuplicate` (and so is the next
   * attempt's `email.sent`). A `resend` with no attempt left is held too: `failed` would say the
   * message was not delivered, which nobody knows.
   */
  private async unconfirmed(request: MailRequestRow, attempt: number, firstAttemptAt: Date | null, error: SmtpUnconfirmedError): Promise<SendOutcome> {
    const { emailId } = request;
    if (unconfirmedSendPolicy(this.config, request.lane) === 'resend') {
      const decision = await this.decideRetry(emailId, attempt, firstAttemptAt);
      if (decision.retry) {
        this.logger.warn(`email ${emailId}: attempt ${attempt} unconfirmed, resending at ${decision.nextAttemptAt.toISOString()}: ${error.message}`);
        return (await this.defer(emailId, attempt, error, decision.nextAttemptAt)) ? { retryAt: decision.nextAttemptAt } : 'skipped';
      }
    }
    const reason = `attempt ${attempt} sent the whole message and never got the server's reply; held for reconciliation: ${error.message}`;
    this.logger.warn(`email ${emailId}: ${reason}`);
    const recorded = await this.finish(
      emailId,
      attempt,
      { status: 'unknown', outcome: 'unknown', error: reason },
      'email.unknown',
      { attempt, code: error.code, reason: reason.slice(0, 2_000) },
    );
    return recorded ? 'processed' : 'skipped';
  }

  /**
   * Records a final failure with its stable `code`; false when a later attempt superseded this one.
   * A recipient refused for good (`5.1.x`, {@link isHardBounce}) goes on the suppression list in
   * the same transaction (also when the others accepted the message: see `send`).
   */
  private async fail(
    emailId: string,
    attempt: number,
    error: SmtpRejectedError | SmtpDeferredError,
    why: { code: string; reason: string },
  ): Promise<boolean> {
    this.logger.warn(`email ${emailId} failed on attempt ${attempt}: ${why.reason}`);
    const suppress = error instanceof SmtpRejectedError ? this.suppressHardBounces(emailId, error.refusedRecipients) : undefined;
    return this.finish(
      emailId,
      attempt,
      {
        status: 'failed',
        outcome: error instanceof SmtpRejectedError ? 'rejected' : 'deferred',
        ...(error.smtpCode !== undefined && { smtpCode: error.smtpCode }),
        ...(error.smtpResponse !== undefined && { smtpResponse: error.smtpResponse }),
        error: why.reason,
      },
      'email.failed',
      {
        attempt,
        code: why.code,
        reason: why.reason.slice(0, 2_000),
        ...smtpReply(error),
      },
      suppress,
    );
  }

  /**
   * The write that puts the recipients the server refused for good (`5.1.x`) on the suppression
   * list, for {@link finish} to run with the outcome; undefined (the common case) when there are none.
   */
  private suppressHardBounces(emailId: string, refused: readonly RecipientRefusal[]): ((manager: EntityManager) => Promise<unknown>) | undefined {
    const bounced = refused.filter(isHardBounce);
    if (bounced.length === 0) return undefined;
    return (manager) =>
      this.suppressions.addMany(
        manager,
        bounced.map(({ recipient }) => ({ address: recipient, category: null, reason: 'hard_bounce', sourceEmailId: emailId })),
      );
  }

  /**
   * Records a temporary failure and when the next attempt runs (`nextAttemptAt`); false when a
   * later attempt superseded this one. An unconfirmed attempt's outcome is `unknown` (what makes
   * the next attempt a possible duplicate) and its event says so.
   */
  private async defer(emailId: string, attempt: number, error: SmtpDeferredError | SmtpUnconfirmedError, nextAttemptAt: Date): Promise<boolean> {
    const unconfirmed = error instanceof SmtpUnconfirmedError;
    return this.finish(
      emailId,
      attempt,
      {
        status: 'retrying',
        outcome: unconfirmed ? 'unknown' : 'deferred',
        nextAttemptAt,
        ...(error.smtpCode !== undefined && { smtpCode: error.smtpCode }),
        ...(error.smtpResponse !== undefined && { smtpResponse: error.smtpResponse }),
        error: error.message,
      },
      'email.retrying',
      {
        attempt,
        code: error.code,
        reason: error.message.slice(0, 2_000),
        nextAttemptAt: nextAttemptAt.toISOString(),
        ...smtpReply(error),
        ...(unconfirmed && { possibleDuplicate: true }),
      },
    );
  }

  /**
   * Step 4: the attempt's result and its status event, in one statement, only if this attempt is
   * still the current one. Returns false (nothing written) when it was superseded. With `also`
   * (rare: a hard bounce), that statement and `also` run in one transaction, `also` only if the
   * result was recorded.
   */
  private async finish(
    emailId: string,
    attempt: number,
    result: Parameters<MailRequestsRepository['finishAttempt']>[3] & { status: MailRequestStatus },
    event: EmailEventType,
    detail: EmailEventDetail,
    also?: (manager: EntityManager) => Promise<unknown>,
  ): Promise<boolean> {
    const statusEvent = this.events.insert(emailId, event, detail);
    const write = (manager: EntityManager) => this.requests.finishAttempt(manager, emailId, attempt, result, 'sending', statusEvent);
    const recorded = await this.recordOutcome(emailId, () =>
      also
        ? this.dataSource.transaction(async (manager) => {
            const done = await write(manager);
            if (done) await also(manager);
            return done;
          })
        : write(this.dataSource.manager),
    );
    if (recorded) this.events.written(this.dataSource.manager);
    else this.logger.warn(`email ${emailId}: attempt ${attempt} ended (${result.status}) after a later attempt took over; not recorded`);
    return recorded;
  }

  /**
   * Renews the attempt's lease every third of it while the hand-off runs; returns the function
   * that stops renewing. A renewal that fails (database briefly away) is tried again next time.
   */
  private keepLease(emailId: string, attempt: number): () => void {
    const leaseMs = this.config.SEND_ATTEMPT_LEASE_MS;
    const timer = setInterval(() => {
      this.requests.renewLease(this.dataSource.manager, emailId, attempt, leaseMs).then(
        (held) => {
          if (!held) this.logger.warn(`email ${emailId}: attempt ${attempt} lost its lease to a later attempt`);
        },
        (error: unknown) => this.logger.warn(`email ${emailId}: renewing the lease of attempt ${attempt} failed: ${describeError(error)}`),
      );
    }, leaseMs / 3);
    return () => clearInterval(timer);
  }

  /**
   * Commits what the SMTP server answered. The answer is known only in memory now, and losing it
   * would mean sending again, so a database that is briefly unavailable (restart, failover) is
   * waited for rather than handed to the queue's retry. Bounded: past the limit the job fails
   * and the next attempt resends (the documented window). p-retry provides the back-off.
   */
  private async recordOutcome<T>(emailId: string, write: () => Promise<T>): Promise<T> {
    return pRetry(write, {
      retries: 40,
      minTimeout: 100,
      maxTimeout: 2_000,
      maxRetryTime: OUTCOME_RECORD_DEADLINE_MS,
      shouldRetry: ({ error }) => isRetriable(error),
      onFailedAttempt: ({ error, attemptNumber }) => {
        if (attemptNumber === 1) this.logger.warn(`recording the outcome of ${emailId} failed, retrying: ${describeError(error)}`);
      },
    });
  }
}

/** The SMTP server's reply code and text for an event's detail, when the failure had one. */
function smtpReply(error: SmtpRejectedError | SmtpDeferredError | SmtpUnconfirmedError): Pick<EmailEventDetail, 'smtpCode' | 'smtpResponse'> {
  return {
    // The contract takes reply codes 200–599 only; a client-side failure has none.
    ...(error.smtpCode !== undefined && error.smtpCode >= 200 && error.smtpCode <= 599 && { smtpCode: error.smtpCode }),
    ...(error.smtpResponse !== undefined && { smtpResponse: error.smtpResponse.slice(0, 2_000) }),
  };
}
