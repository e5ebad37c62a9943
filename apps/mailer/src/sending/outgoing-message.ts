import type { EmailRequestedMessage } from '@app/contracts';
import { listUnsubscribeHeaders } from './list-unsubscribe.headers.js';
import type { OutgoingMail } from './smtp.transport.js';

/** What the message takes from the mailer rather than from the request. */
export interface MessageDefaults {
  /** The deterministic `Message-ID` (`messageIdOf`): the same on every attempt. */
  messageId: string;
  /** `MAIL_FROM`, for a request without `from`. */
  from: string;
}

/**
 * The message nodemailer sends for a request: its addressing, text, attachments and custom
 * headers, as the request schema let them through (the mailer's checks have accepted its sender).
 *
 * Attachments are passed as base64 strings for nodemailer to decode, only by value: the message
 * never names a file or URL (`path`, `href`), and `SmtpTransport` switches file and URL access
 * off as well, so no request can make the mailer read a local file or fetch an address.
 * `X-Email-Id` is the mailer's: a custom header of that name, in any case, is dropped (the schema
 * refuses it as well).
 */
export function outgoingMessage(request: EmailRequestedMessage, defaults: MessageDefaults): OutgoingMail {
  return {
    messageId: defaults.messageId,
    from: request.from ?? defaults.from,
    to: request.to,
    ...(request.cc && { cc: request.cc }),
    ...(request.bcc && { bcc: request.bcc }),
    ...(request.replyTo && { replyTo: request.replyTo }),
    subject: request.subject,
    ...(request.text !== undefined && { text: request.text }),
    ...(request.html !== undefined && { html: request.html }),
    ...(request.attachments && {
      attachments: request.attachments.map((a) => ({
        filename: a.filename,
        contentType: a.contentType,
        content: a.content,
        encoding: 'base64',
        ...(a.contentId !== undefined && { cid: a.contentId }),
      })),
    }),
    headers: { ...(request.headers && withoutEmailId(request.headers)), ...listUnsubscribeHeaders(request), 'X-Email-Id': request.emailId },
  };
}

/** The custom headers without any spelling of `X-Email-Id`, which would go out as a second field. */
function withoutEmailId(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'x-email-id'));
}
