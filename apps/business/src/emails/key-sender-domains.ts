import type { ApiKeyPrincipal } from '@app/auth';
import { ForbiddenError } from '@app/common';
import { addressDomain, senderInputSchema } from '@app/contracts';

/**
 * A key limited to sender domains (`senderDomains`) may send only with a `from` at one of them.
 * Without a `from` the mailer's `MAIL_FROM` is used, which is not the key's domain: refused too.
 * A `from` that does not parse is left to the request's validation (a 400 that names the field),
 * which refuses it anyway. The email module knows nothing of keys: this runs in the controller.
 */
export function assertKeyMaySendFrom(principal: ApiKeyPrincipal, body: unknown): void {
  const allowed = principal.senderDomains;
  if (allowed === undefined) return;
  const from = typeof body === 'object' && body !== null ? (body as { from?: unknown }).from : undefined;
  if (from === undefined || from === null) {
    throw new ForbiddenError(
      'sender_domain_not_allowed',
      `this API key may only send from ${allowed.join(', ')}: give a "from" at one of them`,
      { domain: '(MAIL_FROM)' },
    );
  }
  const parsed = senderInputSchema.safeParse(from);
  if (!parsed.success) return;
  const domain = addressDomain(parsed.data.address);
  if (!allowed.includes(domain)) {
    throw new ForbiddenError('sender_domain_not_allowed', `this API key may not send from the domain "${domain}"`, { domain });
  }
}
