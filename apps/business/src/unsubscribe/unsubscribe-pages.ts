import type { UnsubscribeLink } from '@app/email';

/**
 * The two HTML pages of the unsubscribe endpoint: a confirmation with a button (what a GET shows:
 * link scanners and mail previews follow GETs, so a GET must never unsubscribe) and the answer to
 * the POST. Plain HTML without scripts or external resources; every value is escaped.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1.25rem}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

const who = (link: Pick<UnsubscribeLink, 'address'>): string =>
  link.address === undefined ? 'the recipients of this email' : `<strong>${escapeHtml(link.address)}</strong>`;
const which = (link: Pick<UnsubscribeLink, 'category'>): string =>
  link.category === undefined ? 'our emails' : `our <strong>${escapeHtml(link.category)}</strong> emails`;

/** Asks to confirm; the form posts back to this very URL (no `action`), as the one-click POST does. */
export function confirmationPage(link: UnsubscribeLink): string {
  return page(
    'Unsubscribe',
    `<p>Unsubscribe ${who(link)} from ${which(link)}?</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>`,
  );
}

export function unsubscribedPage(link: Pick<UnsubscribeLink, 'address' | 'category'>): string {
  return page('You are unsubscribed', `<p>${who(link)} will no longer receive ${which(link)}.</p>`);
}

/** A link that does not verify, or (`expired`) whose email, and so whose recipients, is no longer kept. */
export function invalidLinkPage(expired = false): string {
  return expired
    ? page(
        'This unsubscribe link has expired',
        '<p>Its email is no longer kept, so we cannot tell whom it was for. Use the unsubscribe link of a recent email, or the unsubscribe button of your mail app.</p>',
      )
    : page(
        'This unsubscribe link is not valid',
        '<p>It may have been cut off or changed. Use the unsubscribe link of the email as it arrived, or the unsubscribe button of your mail app.</p>',
      );
}
