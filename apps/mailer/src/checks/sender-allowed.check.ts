import { Inject, Injectable } from '@nestjs/common';
import { isSenderDomainAllowed, type EmailRequestedMessage } from '@app/contracts';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';

/** Why a check refused a request: `code` goes into `email.rejected`'s `detail.code`. */
export interface CheckRefusal {
  code: string;
  reason: string;
}

/**
 * The mailer's own word on `from` (defence in depth: the business side refuses it first, with
 * its own `senderDomains`): a request may name MAIL_FROM's address or one in
 * MAIL_SENDER_DOMAINS, nothing else, whatever a producer on the topic let through. A request
 * without `from` is never refused and costs nothing here.
 */
@Injectable()
export class SenderAllowedCheck {
  static readonly code = 'sender_not_allowed';
  private readonly defaultSender: string;
  private readonly domains: readonly string[];

  constructor(@Inject(MAILER_CONFIG) config: Pick<MailerConfig, 'MAIL_FROM' | 'MAIL_SENDER_DOMAINS'>) {
    this.defaultSender = (/<([^<>]+)>\s*$/.exec(config.MAIL_FROM)?.[1] ?? config.MAIL_FROM).trim().toLowerCase();
    this.domains = config.MAIL_SENDER_DOMAINS;
  }

  check(request: EmailRequestedMessage): CheckRefusal | null {
    if (!request.from) return null;
    const { address } = request.from;
    if (address.toLowerCase() === this.defaultSender || isSenderDomainAllowed(address, this.domains)) return null;
    return {
      code: SenderAllowedCheck.code,
      reason:
        this.domains.length === 0
          ? `sender ${address} is not allowed: MAIL_SENDER_DOMAINS is not set, so only the default sender may be used`
          : `sender ${address} is not allowed: its domain is not one of MAIL_SENDER_DOMAINS (${this.domains.join(', ')})`,
    };
  }
}
