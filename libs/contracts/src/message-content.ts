import { z } from 'zod';

/**
 * What a request may add to the message beyond its text: attachments and custom headers. Both
 * reach an SMTP server's header lines, so everything here is checked for what could break out of
 * a header (CR, LF, other control characters) before it is accepted.
 */

export const MAX_ATTACHMENTS = 10;
export const MAX_ATTACHMENT_FILENAME_LENGTH = 255;
/**
 * Default of the total size of a request's attachments, in decoded bytes (`maxAttachmentBytes`
 * of `EmailModule`, `MAIL_MAX_ATTACHMENT_BYTES`). Base64 makes them a third larger in the Kafka
 * message, whose own limit (`maxMessageBytes`, default 1,000,000) still has the last word.
 */
export const DEFAULT_MAX_ATTACHMENT_BYTES = 512 * 1024;

export const MAX_CUSTOM_HEADERS = 20;
export const MAX_CUSTOM_HEADER_VALUE_LENGTH = 998; // RFC 5322 line limit
/** Names and values of all custom headers together, in characters. */
export const MAX_CUSTOM_HEADERS_LENGTH = 8 * 1024;

// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** A file name a mail client can save as is: no folders, no control characters, no `.`/`..`. */
const filenameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_ATTACHMENT_FILENAME_LENGTH, `at most ${MAX_ATTACHMENT_FILENAME_LENGTH} characters`)
  .refine((name) => !CONTROL_CHARACTERS.test(name), 'must not contain CR, LF or other control characters')
  .refine((name) => !/[/\\]/.test(name), 'must not contain / or \\ (a file name, not a path)')
  .refine((name) => name !== '.' && name !== '..', 'must be a file name');

/** `type/subtype` as RFC 6838 names them, without parameters (`charset` and the like are set by the mailer). */
const contentTypeSchema = z
  .string()
  .max(127)
  .regex(/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/, 'must be a MIME type such as application/pdf');

/** The `cid:` an HTML part refers to for an inline image (`<img src="cid:logo@shop">`). */
const contentIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+=?^_`{|}~.@-]{1,128}$/, 'letters, digits and !#$%&\'*+=?^_`{|}~.@- only, at most 128');

export const attachmentSchema = z.strictObject({
  filename: filenameSchema,
  contentType: contentTypeSchema,
  /** The file's bytes, base64 (RFC 4648, padded, no line breaks). */
  content: z.base64('must be base64 (RFC 4648, padded, without line breaks)'),
  /** Makes the attachment an inline part that the HTML refers to as `cid:<contentId>`. */
  contentId: contentIdSchema.optional(),
});
export type Attachment = z.infer<typeof attachmentSchema>;

export const attachmentsSchema = z.array(attachmentSchema).max(MAX_ATTACHMENTS, `at most ${MAX_ATTACHMENTS} attachments`);

/** Bytes of base64 `content` once decoded, computed from its length (the schema has checked the alphabet and padding). */
export function decodedBase64Bytes(content: string): number {
  const padding = content.endsWith('==') ? 2 : content.endsWith('=') ? 1 : 0;
  return (content.length / 4) * 3 - padding;
}

/** The decoded size of all the attachments together: what `maxAttachmentBytes` limits. */
export function attachmentBytes(attachments: readonly Attachment[] | undefined): number {
  return (attachments ?? []).reduce((sum, a) => sum + decodedBase64Bytes(a.content), 0);
}

/** RFC 5322 field-name: printable US-ASCII except `:`. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]{1,76}$/;

/**
 * Standard headers a request may set. Everything else that is not `X-*` is refused: the system
 * sets the addressing, identity, MIME structure and signature headers itself (`From`, `To`,
 * `Subject`, `Message-ID`, `Date`, `Content-*`, `DKIM-Signature`, `List-Unsubscribe*`…).
 */
export const ALLOWED_STANDARD_HEADERS: readonly string[] = [
  'List-Id',
  'List-Archive',
  'List-Help',
  'List-Owner',
  'List-Post',
  'List-Subscribe',
  'Precedence',
  'Auto-Submitted',
  'References',
  'In-Reply-To',
  'Keywords',
  'Comments',
];

/** `X-*` headers the mailer sets itself. */
export const RESERVED_X_HEADERS: readonly string[] = ['X-Email-Id'];

const allowedStandard = new Set(ALLOWED_STANDARD_HEADERS.map((name) => name.toLowerCase()));
const reservedX = new Set(RESERVED_X_HEADERS.map((name) => name.toLowerCase()));

/** Why a request may not set the header `name`, or null when it may. */
export function customHeaderRefusal(name: string): string | null {
  if (!FIELD_NAME.test(name)) return 'is not a header field name (printable ASCII without ":", at most 76)';
  const lower = name.toLowerCase();
  if (reservedX.has(lower)) return 'is set by the mailer';
  if (lower.startsWith('x-') || allowedStandard.has(lower)) return null;
  return `may not be set: only X-* headers and ${ALLOWED_STANDARD_HEADERS.join(', ')}`;
}

/**
 * `headers: { name: value }`. Each refusal is reported at `headers.<name>`; names are compared
 * case-insensitively, as mail software reads them, so one header cannot be given twice.
 */
export const customHeadersSchema = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  const entries = Object.entries(headers);
  if (entries.length > MAX_CUSTOM_HEADERS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_CUSTOM_HEADERS} headers` });
  let length = 0;
  const seen = new Set<string>();
  for (const [name, value] of entries) {
    length += name.length + value.length;
    const refusal = customHeaderRefusal(name);
    if (refusal) ctx.addIssue({ code: 'custom', path: [name], message: `header ${JSON.stringify(name)} ${refusal}` });
    else if (seen.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: `header ${name} is given twice` });
    seen.add(name.toLowerCase());
    if (CONTROL_CHARACTERS.test(value.replace(/\t/g, ''))) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'value must not contain CR, LF or other control characters' });
    } else if (value.length > MAX_CUSTOM_HEADER_VALUE_LENGTH) {
      ctx.addIssue({ code: 'custom', path: [name], message: `value of at most ${MAX_CUSTOM_HEADER_VALUE_LENGTH} characters` });
    }
  }
  if (length > MAX_CUSTOM_HEADERS_LENGTH) {
    ctx.addIssue({ code: 'custom', message: `names and values of at most ${MAX_CUSTOM_HEADERS_LENGTH} characters in all` });
  }
});
export type CustomHeaders = z.infer<typeof customHeadersSchema>;
