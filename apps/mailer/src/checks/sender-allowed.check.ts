import { Inject, Injectable } from '@nestjs/common';
import { isSenderDomainAllowed, type EmailRequestedMessage } from '@app/contracts';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import type { CheckBatch, CheckVerdict, MailCheck } from './mail-check.js';

/**
 * The mailer's own word on `from` (defence in depth: the business side refuses it first, with
 * its own `senderDomains`): a request may name MAIL_FROM's address or one in
 * MAIL_SENDER_DOMAINS, nothing else, whatever a producer on the topic let through. A request
 * without `from` is never refused and costs nothing here.
 */
@Injectable()
export class SenderAllowedCheck implements MailCheck {
  static readonly code = 'sender_not_allowed';
  readonly name = SenderAllowedCheck.code;
  private readonly defaultSender: string;
  private readonly domains: readonly string[];

  constructor(@Inject(MAILER_CONFIG) config: Pick<MailerConfig, 'MAIL_FROM' | 'MAIL_SENDER_DOMAINS'>) {
    this.defaultSender = (/<([^<>]+)>\s*$/.exec(config.MAIL_FROM)?.[1] ?? config.MAIL_FROM).trim().toLowerCase();
    this.domains = config.MAIL_SENDER_DOMAINS;
  }

  async check({ requests }: CheckBatch): Promise<(CheckVerdict | null)[]> {
    return requests.map((request) => this.verdictOn(request));
  }

  /** In memory, no query: null for an allowed sender (or none), else the refusal. */
  verdictOn(request: EmailRequestedMessage): CheckVerdict | null {
    if (!request.from) return null;
    const { address } = request.from;
    if (address.toLowerCase() === this.defaultSender || isSenderDomainAllowed(address, this.domains)) return null;
    return {
      status: 'rejected',
      code: SenderAllowedCheck.code,
      reason:
        this.domains.length === 0
          ? `sender ${address} is not allowed: MAIL_SENDER_DOMAINS is not set, so only the default sender may be used`
          : `sender ${address} is not allowed: its domain is not one of MAIL_SENDER_DOMAINS (${this.domains.join(', ')})`,
    };
  }
}
