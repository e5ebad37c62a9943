import type { Provider, Type } from '@nestjs/common';
import { SuppressionCheck } from '../suppressions/suppression.check.js';
import { DedupCheck } from './dedup.check.js';
import { ExpiryCheck } from './expiry.check.js';
import { FrequencyCapCheck } from './frequency-cap.check.js';
import { HeaderInjectionCheck } from './header-injection.check.js';
import { MAIL_CHECKS, type MailCheck } from './mail-check.js';
import { MailCheckChain } from './mail-check-chain.service.js';
import { MessageSizeCheck } from './message-size.check.js';
import { RecipientCountCheck } from './recipient-count.check.js';
import { RecipientDomainCheck } from './recipient-domain.check.js';
import { SenderAllowedCheck } from './sender-allowed.check.js';
import { SendLimitsRepository } from './send-limits.repository.js';

/**
 * The mailer's checks, in the order they run: adding one is its class and one line here. The
 * checks that need no database come first, so a malformed request never costs a query; dedup
 * comes before the cap, so a duplicate does not use up a slot of the day.
 */
export const MAIL_CHECKS_IN_ORDER: readonly Type<MailCheck<unknown>>[] = [
  HeaderInjectionCheck,
  RecipientCountCheck,
  SenderAllowedCheck,
  MessageSizeCheck,
  ExpiryCheck,
  RecipientDomainCheck,
  SuppressionCheck,
  DedupCheck,
  FrequencyCapCheck,
];

/** The checks, their chain and what they use, for the mailer's module. */
export const MAIL_CHECK_PROVIDERS: Provider[] = [
  ...MAIL_CHECKS_IN_ORDER,
  SendLimitsRepository,
  { provide: MAIL_CHECKS, useFactory: (...checks: MailCheck<unknown>[]) => checks, inject: [...MAIL_CHECKS_IN_ORDER] },
  MailCheckChain,
];
