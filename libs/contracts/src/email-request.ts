import { z } from 'zod';
import { LANES } from './topics.js';
import { attachmentsSchema, customHeadersSchema } from './message-content.js';

/** Version of the payloads below; a consumer rejects versions it does not know. */
export const CONTRACT_VERSION = 1;

// Header injection is the classic bug of mail APIs: no CR or LF may reach a header field.
const noLineBreaks = (value: string): boolean => !/[\r\n]/.test(value);

export const MAX_RECIPIENTS = 50;
export const MAX_SUBJECT_LENGTH = 998; // RFC 5322 line limit
export const MAX_TEXT_LENGTH = 256 * 1024;
export const MAX_HTML_LENGTH = 512 * 1024;

export const emailAddressSchema = z
  .string()
  .max(254)
  .refine(noLineBreaks, 'must not contain CR or LF')
  .pipe(z.email({ message: 'must be an email address' }));

const recipientListSchema = z
  .array(emailAddressSchema)
  .min(1, 'needs at least one address')
  .max(MAX_RECIPIENTS, `at most ${MAX_RECIPIENTS} addresses`);

/** `to`, `cc` and `bcc` accept one address or a list; they are always a list afterwards. */
const recipientsSchema = z.preprocess((v) => (typeof v === 'string' ? [v] : v), recipientListSchema);

// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** A sender as the Kafka message carries it: the address, and the display name if any. */
export const senderSchema = z.strictObject({
  name: z
    .string()
    .min(1, 'must not be empty')
    .max(128)
    .refine((name) => !CONTROL_CHARACTERS.test(name), 'must not contain CR, LF or other control characters')
    .optional(),
  address: emailAddressSchema,
});
export type Sender = z.infer<typeof senderSchema>;
export type SenderInput = string | { name?: string; address: string };

/**
 * `"Shop" <news@shop.example>`, `Shop <news@shop.example>` or `news@shop.example` as
 * `{ name?, address }`; anything else as `{ address }` (whole, trimmed), for the schema to refuse.
 * Parsed by hand, in linear time: a single regular expression for this shape (optional quotes,
 * a lazy name, whitespace on both sides) backtracks polynomially on a long run of spaces, and a
 * 4,000-space `from` held the event loop for a minute.
 */
function parseSender(value: string): { name?: string; address: string } {
  const text = value.trim();
  const open = text.lastIndexOf('<');
  if (open < 0 || !text.endsWith('>')) return { address: text };
  const address = text.slice(open + 1, -1);
  let name = text.slice(0, open).trim();
  if (/[<>\s]/.test(address)) return { address: text };
  if (name.length >= 2 && name.startsWith('"') && name.endsWith('"')) {
    name = name.slice(1, -1);
    if (/["\r\n]/.test(name)) return { address: text };
    name = name.trim();
  } else if (/[<>"\r\n]/.test(name)) {
    return { address: text };
  }
  return { ...(name !== '' && { name }), address };
}

/**
 * `from` of a request: an address, `"Name" <address>`, or `{ name, address }`; always
 * `{ name?, address }` afterwards, so that no one downstream parses it again. Whether its domain
 * may be used is the sender's configuration (`senderDomains`, `MAIL_SENDER_DOMAINS`), not the schema's.
 */
export const senderInputSchema = z
  .custom<SenderInput>(() => true)
  .transform((value): unknown => (typeof value === 'string' ? parseSender(value) : value))
  .pipe(senderSchema);

/** The domain of an address, lower-cased: what sender domains are matched against. */
export function addressDomain(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** A domain a deployment sends from (`senderDomains`, `MAIL_SENDER_DOMAINS`), lower-cased. */
export const senderDomainSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/, 'must be a domain name such as shop.example');

/** `MAIL_SENDER_DOMAINS`: a comma-separated list of sender domains; unset or empty is none. */
export const senderDomainListSchema = z
  .string()
  .optional()
  .transform((csv) => (csv ?? '').split(',').map((d) => d.trim()).filter(Boolean))
  .pipe(z.array(senderDomainSchema));

/** Whether `address` is in one of `domains` (exactly: a subdomain is a domain of its own). */
export function isSenderDomainAllowed(address: string, domains: readonly string[]): boolean {
  return domains.includes(addressDomain(address));
}

/** A mail category (`category` of a request): suppressions and frequency caps can be per category. */
export const categorySchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lower-case letters, digits, `_`, `.` and `-`, at most 64');

/** Free labels for the caller's reporting (`tags`), e.g. `welcome`, `campaign:2026-11`. */
export const tagsSchema = z
  .array(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, `_`, `.`, `:` and `-`, at most 64'))
  .max(10, 'at most 10 tags');

/** A template's name (`POST /v1/templates`), as `template` of a request names it. */
export const templateNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'lower-case letters, digits, `_`, `.` and `-`, at most 100');

/** A template version: 1, 2, … in the order they were created. */
export const templateVersionSchema = z.number().int().min(1).max(2_147_483_647);

/** The values of a template's variables (`data` of a request or a preview): any JSON object. */
export const templateDataSchema = z.record(z.string(), z.unknown());

export const metadataSchema = z
  .record(z.string().min(1).max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 20, 'at most 20 keys');

/** What a client asks for: the body of `POST /v1/emails`, and `EmailClient.send()`'s argument. */
export const emailRequestSchema = z
  .strictObject({
    to: recipientsSchema,
    cc: recipientsSchema.optional(),
    bcc: recipientsSchema.optional(),
    replyTo: emailAddressSchema.optional(),
    /** The sender, when not the mailer's default (`MAIL_FROM`); its domain must be one of the configured sender domains. */
    from: senderInputSchema.optional(),
    subject: z
      .string()
      .min(1, 'must not be empty')
      .max(MAX_SUBJECT_LENGTH)
      .refine(noLineBreaks, 'must not contain CR or LF')
      .optional(),
    text: z.string().max(MAX_TEXT_LENGTH).optional(),
    html: z.string().max(MAX_HTML_LENGTH).optional(),
    lane: z.enum(LANES).default('transactional'),
    metadata: metadataSchema.optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    /**
     * Send at this time instead of now (status `scheduled` until then). How far ahead, and how far
     * in the past (clock skew), is the sender's to check (`EmailClient.send()`); the schema checks
     * what needs no clock: it must not come after `expiresAt`.
     */
    sendAt: z.iso.datetime({ offset: true }).optional(),
    /** What kind of mail this is (`newsletter`, `receipt`…): suppressions, unsubscribes and frequency caps can be per category. */
    category: categorySchema.optional(),
    tags: tagsSchema.optional(),
    /** A stored template to render instead of literal `subject`/`text`/`html`, with its `data`. */
    template: templateNameSchema.optional(),
    /** The template's version; the latest when omitted. */
    version: templateVersionSchema.optional(),
    data: templateDataSchema.optional(),
    /** Files sent with the mail; their decoded total is limited by `maxAttachmentBytes`. */
    attachments: attachmentsSchema.optional(),
    /** Extra header fields: `X-*` and a few standard ones (see `ALLOWED_STANDARD_HEADERS`). */
    headers: customHeadersSchema.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.template !== undefined) {
      // Either literal content or a template: mixing them would leave which one wins to guesswork.
      for (const field of ['subject', 'text', 'html'] as const) {
        if (r[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'give either literal content (subject, text, html) or a template, not both' });
      }
      return;
    }
    if (r.subject === undefined) ctx.addIssue({ code: 'custom', path: ['subject'], message: 'is required (or give a template)' });
    if (r.text === undefined && r.html === undefined) ctx.addIssue({ code: 'custom', path: ['text'], message: 'either text or html is required' });
    for (const field of ['version', 'data'] as const) {
      if (r[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'only with a template' });
    }
  })
  .refine((r) => r.sendAt === undefined || r.expiresAt === undefined || Date.parse(r.sendAt) < Date.parse(r.expiresAt), {
    message: 'must be before expiresAt (the email would expire before its time)',
    path: ['sendAt'],
  });

export type EmailRequestInput = z.input<typeof emailRequestSchema>;

/**
 * The one-click unsubscribe URL (RFC 8058) of a bulk email, signed by the business side and put
 * by the mailer into `List-Unsubscribe: <url>`: http(s), and nothing that could end the angle
 * brackets or the header (no whitespace, `<`, `>`, `"`).
 */
export const unsubscribeUrlSchema = z
  .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
  .max(2000)
  .regex(/^[^\s<>"]+$/, 'must not contain whitespace, <, > or "');
export type EmailRequest = z.output<typeof emailRequestSchema>;

/** Kafka payload on `mail.requests.<lane>`: a request the business side has committed. */
export const emailRequestedMessageSchema = z.strictObject({
  version: z.literal(CONTRACT_VERSION),
  type: z.literal('email.requested'),
  emailId: z.uuid(),
  requestedAt: z.iso.datetime({ offset: true }),
  lane: z.enum(LANES),
  to: recipientListSchema,
  cc: recipientListSchema.optional(),
  bcc: recipientListSchema.optional(),
  replyTo: emailAddressSchema.optional(),
  from: senderSchema.optional(),
  subject: z.string().min(1).max(MAX_SUBJECT_LENGTH).refine(noLineBreaks, 'must not contain CR or LF'),
  text: z.string().max(MAX_TEXT_LENGTH).optional(),
  html: z.string().max(MAX_HTML_LENGTH).optional(),
  metadata: metadataSchema.optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  /** When to send it: the mailer holds it as `scheduled` until then (absent or past: at once). */
  sendAt: z.iso.datetime({ offset: true }).optional(),
  category: categorySchema.optional(),
  tags: tagsSchema.optional(),
  /** The template the content was rendered from, when the request named one (the content above is already rendered). */
  template: z.strictObject({ name: templateNameSchema, version: templateVersionSchema }).optional(),
  /** Bulk lane only: where the recipient unsubscribes in one click (`List-Unsubscribe`, RFC 8058). */
  unsubscribeUrl: unsubscribeUrlSchema.optional(),
  attachments: attachmentsSchema.optional(),
  headers: customHeadersSchema.optional(),
});

export type EmailRequestedMessage = z.infer<typeof emailRequestedMessageSchema>;

/**
 * Kafka payload on `mail.requests.<lane>`, beside the requests: the business side asks to cancel
 * an email (`DELETE /v1/emails/:id`). It goes to the email's own lane topic with the same key
 * (the email id), so Kafka delivers it after the request it cancels. A cancel the mailer gets for
 * an email it does not know (its request dead-lettered, to be requeued later) leaves a tombstone,
 * so the cancel still wins if the request comes after all.
 */
export const emailCancelRequestedMessageSchema = z.strictObject({
  version: z.literal(CONTRACT_VERSION),
  type: z.literal('email.cancel_requested'),
  emailId: z.uuid(),
  /** The email's lane (the topic it is on), kept with a tombstone. */
  lane: z.enum(LANES),
  requestedAt: z.iso.datetime({ offset: true }),
});

export type EmailCancelRequestedMessage = z.infer<typeof emailCancelRequestedMessageSchema>;

/** Everything on `mail.requests.<lane>`, told apart by `type`. */
export const mailRequestsTopicMessageSchema = z.discriminatedUnion('type', [emailRequestedMessageSchema, emailCancelRequestedMessageSchema]);

export type MailRequestsTopicMessage = z.infer<typeof mailRequestsTopicMessageSchema>;
