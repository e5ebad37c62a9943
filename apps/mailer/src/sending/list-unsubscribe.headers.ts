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
