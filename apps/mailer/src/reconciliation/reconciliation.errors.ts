import { NotFoundError, StateConflictError } from '@app/common';

export class MailRequestNotFoundError extends NotFoundError {
  readonly code = 'mail_request_not_found';

  constructor(readonly emailId: string) {
    super(`no mail request with email id ${emailId}`);
  }
}

/** Only an email held as `unknown` can be reconciled. */
export class NotUnconfirmedError extends StateConflictError {
  readonly code = 'mail_request_not_unknown';

  constructor(
    readonly emailId: string,
    readonly status: string,
  ) {
    super(`email ${emailId} is ${status}, not unknown; only unknown emails can be reconciled`);
  }
}
