import type { EmailRequestedMessage } from '@app/contracts';

/**
 * The one-click unsubscribe headers (RFC 2369 `List-Unsubscribe`, RFC 8058
 * `List-Unsubscribe-Post`) of a bulk email that carries a signed unsubscribe URL; none for
 * anything else: a login code or a receipt is not a list one unsubscribes from. The URL was
 * validated against the contract (http(s), no whitespace or angle brackets), so it cannot end
 * the header early.
 */
export function listUnsubscribeHeaders(request: Pick<EmailRequestedMessage, 'lane' | 'unsubscribeUrl'>): Record<string, string> {
  if (request.lane !== 'bulk' || request.unsubscribeUrl === undefined) return {};
  return {
    'List-Unsubscribe': `<${request.unsubscribeUrl}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}

/**
 * The header fields a DKIM signature should cover, for nodemailer's `dkim.headerFieldNames`
 * (colon-separated): RFC 4871 §5.5's recommended list, which is nodemailer's default, plus
 * `List-Unsubscribe-Post`. RFC 8058 §4 requires both one-click headers to be signed, and
 * nodemailer's default signs `List-Unsubscribe` only; a mailbox provider ignores an unsigned
 * one-click header.
 */
export const DKIM_HEADER_FIELD_NAMES = [
  'From', 'Sender', 'Reply-To', 'Subject', 'Date', 'Message-ID', 'To', 'Cc', 'MIME-Version', 'Content-Type',
  'Content-Transfer-Encoding', 'Content-ID', 'Content-Description', 'Resent-Date', 'Resent-From', 'Resent-Sender',
  'Resent-To', 'Resent-Cc', 'Resent-Message-ID', 'In-Reply-To', 'References', 'List-Id', 'List-Help',
  'List-Unsubscribe', 'List-Unsubscribe-Post', 'List-Subscribe', 'List-Post', 'List-Owner', 'List-Archive',
].join(':');
