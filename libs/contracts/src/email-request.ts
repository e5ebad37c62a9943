import { z } from 'zod';
import { LANES } from './topics.js';

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

/** A mail category (`category` of a request): suppressions and frequency caps can be per category. */
export const categorySchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lower-case letters, digits, `_`, `.` and `-`, at most 64');

/** Free labels for the caller's reporting (`tags`), e.g. `welcome`, `campaign:2026-11`. */
export const tagsSchema = z
  .array(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, `_`, `.`, `:` and `-`, at most 64'))
  .max(10, 'at most 10 tags');

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
    subject: z
      .string()
      .min(1, 'must not be empty')
      .max(MAX_SUBJECT_LENGTH)
      .refine(noLineBreaks, 'must not contain CR or LF'),
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
  })
  .refine((r) => r.text !== undefined || r.html !== undefined, {
    message: 'either text or html is required',
    path: ['text'],
  })
  .refine((r) => r.sendAt === undefined || r.expiresAt === undefined || Date.parse(r.sendAt) < Date.parse(r.expiresAt), {
    message: 'must be before expiresAt (the email would expire before its time)',
    path: ['sendAt'],
  });

export type EmailRequestInput = z.input<typeof emailRequestSchema>;
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
  subject: z.string().min(1).max(MAX_SUBJECT_LENGTH).refine(noLineBreaks, 'must not contain CR or LF'),
  text: z.string().max(MAX_TEXT_LENGTH).optional(),
  html: z.string().max(MAX_HTML_LENGTH).optional(),
  metadata: metadataSchema.optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  /** When to send it: the mailer holds it as `scheduled` until then (absent or past: at once). */
  sendAt: z.iso.datetime({ offset: true }).optional(),
  category: categorySchema.optional(),
  tags: tagsSchema.optional(),
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
