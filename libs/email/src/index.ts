/**
 * The email module's public entry (`@email-loop/nestjs`): everything a host app needs, nothing of
 * the outbox, inbox or Kafka wiring inside it.
 */

/** The module: `EmailModule.forRoot(options)` / `forRootAsync({ imports, inject, useFactory })`. */
export { EmailModule, type EmailModuleAsyncOptions } from './email.module.js';
/** Its options, their defaults, and how long it keeps its rows. */
export {
  DEFAULT_EMAIL_SCHEMA,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_SCHEDULE_AHEAD_MS,
  SEND_AT_PAST_TOLERANCE_MS,
  type EmailKafkaOptions,
  type EmailModuleOptions,
  type EmailRetentionOptions,
  type EmailUnsubscribeOptions,
  type TemplateRenderingOptions,
} from './email.options.js';
/** Default of `EmailModuleOptions.maxAttachmentBytes`. */
export { DEFAULT_MAX_ATTACHMENT_BYTES } from '@app/contracts';
/** Relay tuning accepted by `EmailModuleOptions.relay`. */
export type { OutboxRelayOptions as EmailRelayOptions } from '@app/outbox';

/**
 * Serves the module's status-event consumer (a Nest microservice transport that commits a Kafka
 * message only after its effect): connect it in `main.ts`,
 * `app.connectMicroservice({ strategy: app.get(KafkaEventsTransport) })`, then
 * `await app.startAllMicroservices()`. Until it listens, `/health/ready`-style probes see it unserved.
 */
export { KafkaEventsTransport } from '@app/kafka';

/** Queue an email inside your transaction (`send`) and read what happened to it (`get`). */
export { EmailClient, type CancelResult, type EmailView, type SendOptions, type SendResult } from './email-client.js';
/**
 * Named, versioned templates (`TemplatesService`: create, read, preview); `send()` renders one
 * given `template` (+ `version`) and `data`. Its errors: `TemplateNotFoundError` (the template
 * API's 404), `UnknownTemplateError` (a request naming a missing template, a 400),
 * `TemplateCompileError`, `TemplateDataError`, `TemplateRenderLimitError` (a render that passed its
 * deadline, output or memory limit: see `templateRendering`).
 */
export {
  TemplatesService,
  type RenderedTemplate,
  type TemplatePreviewInput,
  type TemplateView,
  type TemplateListKey,
  type TemplateVersionKey,
} from './templates/templates.service.js';
export {
  TEMPLATE_ENGINES,
  type TemplateDefinitionInput,
  type TemplateEngine,
  type TemplateVariable,
} from './templates/template-definition.js';
export { TemplateCompileError, TemplateDataError, TemplateNotFoundError, TemplateRenderLimitError, UnknownTemplateError } from './templates/template.errors.js';
export { DEFAULT_TEMPLATE_RENDER_TIMEOUT_MS } from './templates/template-renderer.js';
/** `send()`'s argument, before validation (`to` may be one address, `lane` may be omitted). */
export type { Attachment, CustomHeaders, EmailRequestInput, SenderInput } from '@app/contracts';
/** Vocabulary of the results and events: lanes, statuses, event types and their details. */
export type { EmailEventDetail, EmailEventType, EmailStatus, Lane } from '@app/contracts';

/** React to outcomes: `@OnEmailEvent('email.sent')` methods (`@OnEmailEvents()` for a whole batch) run inside the transaction that applies the event. */
export { OnEmailEvent, OnEmailEvents, type EmailEventContext, type EmailStatusEvent } from './email-event-handlers.js';

/**
 * One-click unsubscribe (RFC 8058) of bulk mail: serve `UnsubscribeService.check()` (a page, GET)
 * and `.unsubscribe()` (the one-click POST) at the module's `unsubscribe.urlPrefix`; learn of
 * each new opt-out in an `@OnUnsubscribe()` method, inside the transaction that records it.
 */
export { UnsubscribeService, type UnsubscribeResult } from './unsubscribe/unsubscribe.service.js';
export { OnUnsubscribe, type RecipientUnsubscribedEvent, type UnsubscribeContext } from './unsubscribe/unsubscribe-handlers.js';
export { MIN_UNSUBSCRIBE_SECRET_LENGTH, type UnsubscribeLink } from './unsubscribe/unsubscribe-tokens.js';
export { InvalidUnsubscribeLinkError, UnsubscribeLinkExpiredError } from './unsubscribe/unsubscribe.errors.js';

/** What `send()` throws (all before anything is written), `get()`'s and `cancel()`'s not-found error, and `cancel()`'s conflict. */
export {
  EmailAlreadyFinalError,
  EmailNotFoundError,
  EmailTooLargeError,
  EmailTransactionRequiredError,
  IdempotencyKeyConflictError,
} from './email.errors.js';
/** Raised by `send()` for an invalid request, with every bad field in `fieldErrors`. */
export { InvalidInputError, type FieldError } from '@app/common';

/** The module's tables: TypeORM migrations bound to a schema (or the CLI `email-loop migrate`). */
export { EMAIL_MIGRATIONS, emailMigrations, type EmailMigration } from './email.migrations.js';
