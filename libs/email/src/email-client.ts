import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { IdGenerator, Clock, InvalidInputError, parseOrThrow } from '@app/common';
import {
  CONTRACT_VERSION,
  DEFAULT_MAX_ATTACHMENT_BYTES,
  TERMINAL_STATUSES,
  Topics,
  emailRequestSchema,
  type EmailCancelRequestedMessage,
  type EmailEventDetail,
  type EmailEventType,
  type EmailRequestInput,
  type EmailRequestedMessage,
  type EmailStatus,
  type Lane,
} from '@app/contracts';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter } from '@app/outbox';
import { EmailRepository, type EmailRow } from './email.repository.js';
import {
  EmailAlreadyFinalError,
  EmailNotFoundError,
  EmailTooLargeError,
  EmailTransactionRequiredError,
  IdempotencyKeyConflictError,
} from './email.errors.js';
import { contentPolicyErrors, type ContentPolicy } from './content-policy.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_SCHEDULE_AHEAD_MS,
  EMAIL_OPTIONS,
  SEND_AT_PAST_TOLERANCE_MS,
  type EmailModuleOptions,
} from './email.options.js';
import { requestHash } from './request-hash.js';
import { KAFKA_RECORD_ALLOWANCE_BYTES, kafkaRecordSize } from './request-size.js';
import { TemplatesService } from './templates/templates.service.js';
import { UnsubscribeLinks } from './unsubscribe/unsubscribe-links.js';

export interface SendOptions {
  /**
   * The caller's transaction. Pass it to commit the email atomically with your own data:
   * the email is sent if and only if that transaction commits. It must be a transaction's
   * manager (`EmailTransactionRequiredError` otherwise). Without it, `send()` opens its own
   * transaction.
   */
  manager?: EntityManager;
  /** Makes retries safe: the same key with the same request returns the first email. */
  idempotencyKey?: string;
}

export interface SendResult {
  id: string;
  status: EmailStatus;
  /** False when an earlier request with the same idempotency key was returned. */
  created: boolean;
}

export interface CancelResult {
  id: string;
  /** The email's status as this side knows it when the cancel was requested. */
  status: EmailStatus;
  /**
   * The cancel is on its way to the mailer, which decides: the email ends `canceled` (event
   * `email.canceled`) unless its SMTP hand-off has already started.
   */
  cancel: 'requested';
}

export interface EmailView {
  id: string;
  status: EmailStatus;
  lane: Lane;
  messageId: string | null;
  smtpResponse: string | null;
  to: string[];
  cc?: string[];
  bcc?: string[];
  subject: string;
  /** The template the email was rendered from, when it was sent with one. */
  template?: { name: string; version: number };
  metadata: Record<string, string> | null;
  attempt: number;
  createdAt: string;
  updatedAt: string;
  events: { type: EmailEventType; at: string; detail: EmailEventDetail }[];
}

/**
 * The public API of the email module: queue an email, read what happened to it.
 *
 * Invariant: `send()` refuses a request (invalid, too large for the broker, or given a manager
 * outside a transaction) before writing anything, so a refused request leaves no row and does
 * not use up its idempotency key.
 */
@Injectable()
export class EmailClient {
  private readonly maxMessageBytes: number;
  /** Signs the one-click unsubscribe link of bulk mail; null when the module has no `unsubscribe` options. */
  private readonly unsubscribeLinks: UnsubscribeLinks | null;
  private readonly contentPolicy: ContentPolicy;
  private readonly maxScheduleAheadMs: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly emails: EmailRepository,
    private readonly outbox: OutboxWriter,
    private readonly topics: KafkaTopics,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
    private readonly templates: TemplatesService,
    @Inject(EMAIL_OPTIONS) options: EmailModuleOptions,
  ) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.contentPolicy = {
      senderDomains: (options.senderDomains ?? []).map((domain) => domain.toLowerCase()),
      maxAttachmentBytes: options.maxAttachmentBytes ?? DEFAULT_MAX_ATTACHMENT_BYTES,
    };
    this.maxScheduleAheadMs = options.maxScheduleAheadMs ?? DEFAULT_MAX_SCHEDULE_AHEAD_MS;
    if (!Number.isSafeInteger(this.maxMessageBytes) || this.maxMessageBytes <= KAFKA_RECORD_ALLOWANCE_BYTES) {
      throw new Error(`EmailModule: maxMessageBytes (${this.maxMessageBytes}) must be an integer above ${KAFKA_RECORD_ALLOWANCE_BYTES}`);
    }
    this.unsubscribeLinks = options.unsubscribe ? new UnsubscribeLinks(options.unsubscribe) : null;
  }

  /**
   * Validates and queues an email.
   *
   * @throws InvalidInputError listing every bad field, a `from` outside `senderDomains`,
   *   attachments over `maxAttachmentBytes` and a `sendAt` too far ahead or in the past among them.
   * @throws EmailTooLargeError when the Kafka message for it would exceed `maxMessageBytes`.
   * @throws EmailTransactionRequiredError when `options.manager` is not in a transaction.
   * @throws IdempotencyKeyConflictError when the key was used before with another request.
   * @throws UnknownTemplateError when `template` (or its `version`) does not exist.
   * @throws TemplateDataError naming each variable the template needs and `data` lacks.
   */
  async send(input: EmailRequestInput, options: SendOptions = {}): Promise<SendResult> {
    const request = parseOrThrow(emailRequestSchema, input, 'email request');
    const refused = contentPolicyErrors(request, this.contentPolicy);
    if (refused.length > 0) {
      throw new InvalidInputError(`email request is invalid: ${refused.map((e) => `${e.path}: ${e.message}`).join('; ')}`, refused);
    }
    if (request.sendAt !== undefined) this.checkSendAt(request.sendAt);
    // Outside a transaction the email insert would auto-commit before the outbox writer refuses:
    // an email that is never sent, and its idempotency key used up.
    if (options.manager && !options.manager.queryRunner?.isTransactionActive) throw new EmailTransactionRequiredError();
    const { template, version, data, ...fields } = request;
    const now = this.clock.now();
    // The exact message the relay will publish, measured before any write: the schema limits
    // characters, the broker limits bytes, and multibyte text is up to 4 bytes a character.
    const message: EmailRequestedMessage = {
      version: CONTRACT_VERSION,
      type: 'email.requested',
      emailId: this.ids.uuid(),
      requestedAt: now.toISOString(),
      ...fields,
      // The schema lets `subject` be absent only with a template, which replaces it below.
      subject: fields.subject as string,
    };
    if (template !== undefined) {
      // Rendered before anything is written: the message carries the content, the mailer never sees a template.
      const rendered = await this.templates.render(options.manager ?? this.dataSource.manager, template, version, data ?? {});
      Object.assign(message, rendered.content, { template: rendered.template });
      if (message.expiresAt === undefined && rendered.ttlSeconds !== undefined) {
        message.expiresAt = new Date(now.getTime() + rendered.ttlSeconds * 1000).toISOString();
      }
    }
    // Bulk mail only (one HMAC, before the size is measured: the link is part of the message).
    if (message.lane === 'bulk' && this.unsubscribeLinks) message.unsubscribeUrl = this.unsubscribeLinks.urlFor(message);
    const size = kafkaRecordSize(message);
    if (size > this.maxMessageBytes) throw new EmailTooLargeError(size, this.maxMessageBytes);
    const hash = requestHash(request);
    // Without the caller's transaction, the email and its outbox row are one statement, atomic on its own.
    return this.insert(options.manager ?? this.dataSource.manager, message, hash, options.idempotencyKey);
  }

  /**
   * Asks the mailer to cancel an email that has not been handed to SMTP yet (`queued`, `accepted`,
   * `scheduled`, `retrying` between attempts). This side cannot know the mailer's state at this
   * moment, so the cancel is a message: it goes through the outbox to the email's own lane topic,
   * keyed by the email id, behind the request itself (Kafka keeps their order). The mailer
   * cancels it under its row lock unless an SMTP hand-off has started (then the email goes on to
   * `sent` or `failed`); the outcome arrives as the `email.canceled` event. Repeating it is harmless.
   *
   * @param options.manager the caller's transaction, to request the cancel atomically with its own data.
   * @throws EmailNotFoundError when there is no such email.
   * @throws EmailAlreadyFinalError when the email already ended (its status in `status`).
   */
  async cancel(id: string, options: { manager?: EntityManager } = {}): Promise<CancelResult> {
    const manager = options.manager ?? this.dataSource.manager;
    const email = await this.emails.findById(manager, id);
    if (!email) throw new EmailNotFoundError(id);
    if (TERMINAL_STATUSES.has(email.status)) throw new EmailAlreadyFinalError(id, email.status);
    const message: EmailCancelRequestedMessage = {
      version: CONTRACT_VERSION,
      type: 'email.cancel_requested',
      emailId: email.id,
      lane: email.lane,
      requestedAt: this.clock.now().toISOString(),
    };
    // One statement: atomic on its own, or part of the caller's transaction.
    const { sql, params } = this.outbox.insert([{ topic: this.topics.name(Topics.requests[email.lane]), key: email.id, payload: message }])(1);
    await manager.query(sql, params);
    this.outbox.written(manager);
    return { id: email.id, status: email.status, cancel: 'requested' };
  }

  async get(id: string): Promise<EmailView> {
    const manager = this.dataSource.manager;
    const email = await this.emails.findById(manager, id);
    if (!email) throw new EmailNotFoundError(id);
    const events = await this.emails.listEvents(manager, id);
    return toView(email, events);
  }

  /** A `sendAt` must lie between a moment ago (clock skew) and the horizon; what needs no clock is the schema's. */
  private checkSendAt(sendAt: string): void {
    const ahead = Date.parse(sendAt) - this.clock.now().getTime();
    let problem: string | undefined;
    if (ahead < -SEND_AT_PAST_TOLERANCE_MS) problem = `is in the past (more than ${SEND_AT_PAST_TOLERANCE_MS / 1_000} s ago)`;
    else if (ahead > this.maxScheduleAheadMs) problem = `is more than ${formatDuration(this.maxScheduleAheadMs)} ahead`;
    if (problem) throw new InvalidInputError(`email request is invalid: sendAt: ${problem}`, [{ path: 'sendAt', message: problem }]);
  }

  private async insert(
    manager: EntityManager,
    message: EmailRequestedMessage,
    hash: string,
    idempotencyKey: string | undefined,
  ): Promise<SendResult> {
    const id = message.emailId;
    const inserted = await this.emails.insert(manager, {
      id,
      idempotencyKey: idempotencyKey ?? null,
      requestHash: hash,
      lane: message.lane,
      recipients: { to: message.to, ...(message.cc && { cc: message.cc }), ...(message.bcc && { bcc: message.bcc }) },
      subject: message.subject,
      metadata: message.metadata ?? null,
      expiresAt: message.expiresAt ?? null,
      template: message.template ?? null,
    }, this.outbox.insert([{ topic: this.topics.name(Topics.requests[message.lane]), key: id, payload: message }]));
    if (!inserted) {
      // Only an existing idempotency key makes the insert a no-op (ids are fresh UUIDs).
      const existing = await this.emails.findByIdempotencyKey(manager, idempotencyKey as string);
      if (!existing || existing.requestHash !== hash) throw new IdempotencyKeyConflictError(idempotencyKey as string);
      return { id: existing.id, status: existing.status, created: false };
    }
    this.outbox.written(manager);
    return { id, status: 'queued', created: true };
  }
}

function formatDuration(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000} days` : `${ms} ms`;
}

function toView(email: EmailRow, events: { type: EmailEventType; occurredAt: Date; detail: EmailEventDetail }[]): EmailView {
  return {
    id: email.id,
    status: email.status,
    lane: email.lane,
    messageId: email.messageId,
    smtpResponse: email.smtpResponse,
    ...email.recipients,
    subject: email.subject,
    ...(email.template && { template: email.template }),
    metadata: email.metadata,
    attempt: email.attempt,
    createdAt: email.createdAt.toISOString(),
    updatedAt: email.updatedAt.toISOString(),
    events: events.map((e) => ({ type: e.type, at: e.occurredAt.toISOString(), detail: e.detail })),
  };
}
