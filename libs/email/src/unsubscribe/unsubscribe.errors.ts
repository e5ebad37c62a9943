import { NotFoundError } from '@app/common';

/**
 * The token is not a link this service signed (forged, tampered with, truncated, or signed with a
 * secret no longer configured), or unsubscribe links are not configured: nothing is recorded.
 */
export class InvalidUnsubscribeLinkError extends NotFoundError {
  readonly code = 'unsubscribe_link_invalid';

  constructor() {
    super('this unsubscribe link is not valid: use the link from the email as it arrived');
  }
}

/**
 * A valid link of an email with several `to` addresses, which the link does not name, used after
 * the email was deleted by retention: whom it would unsubscribe is no longer known.
 */
export class UnsubscribeLinkExpiredError extends NotFoundError {
  readonly code = 'unsubscribe_link_expired';

  constructor(readonly emailId: string) {
    super(`this unsubscribe link's email (${emailId}) is no longer kept, so its recipients are unknown`);
  }
}
