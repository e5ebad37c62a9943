import { promises as dns } from 'node:dns';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { addressDomain, type EmailRequestedMessage } from '@app/contracts';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import { recipientsOf, type CheckBatch, type CheckVerdict, type MailCheck } from './mail-check.js';

/** What DNS says about a domain as a mail destination. */
type DomainVerdict = 'receives' | 'not_found' | 'null_mx' | 'unknown';

/** The verdict on each recipient domain of a batch, looked up before its transaction. */
export type DomainAnswers = ReadonlyMap<string, DomainVerdict>;

/** How long a domain's answer is reused: long enough to spare a burst, short enough to follow a fix. */
const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX_ENTRIES = 10_000;

/** DNS errors that say the answer is "no such record", as opposed to "could not ask". */
const NO_SUCH_NAME = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME']);

/**
 * Refuses (`MAIL_CHECK_RECIPIENT_DOMAINS=true`) an email to a domain that can receive no mail:
 * no MX record and no A/AAAA record to fall back to (RFC 5321 §5.1), or a null MX (RFC 7505).
 * One lookup per distinct domain of the batch, cached for a few minutes. A resolver that times out
 * or fails says nothing about the domain, so the email goes on (SMTP will tell): DNS trouble must
 * never refuse mail. Off by default, at no cost. The lookups (up to `DNS_TIMEOUT_MS` twice) run
 * in `prepare`, before the batch's transaction opens; `check` only reads their answers.
 */
@Injectable()
export class RecipientDomainCheck implements MailCheck<DomainAnswers> {
  readonly name = 'recipient_domain';
  private readonly logger = new Logger(RecipientDomainCheck.name);
  private readonly resolver: dns.Resolver;
  private readonly cache = new Map<string, { verdict: DomainVerdict; until: number }>();

  constructor(@Inject(MAILER_CONFIG) private readonly config: Pick<MailerConfig, 'MAIL_CHECK_RECIPIENT_DOMAINS' | 'DNS_SERVERS' | 'DNS_TIMEOUT_MS'>) {
    this.resolver = new dns.Resolver({ timeout: config.DNS_TIMEOUT_MS, tries: 2 });
    if (config.DNS_SERVERS.length > 0) this.resolver.setServers(config.DNS_SERVERS);
  }

  async prepare(requests: readonly EmailRequestedMessage[]): Promise<DomainAnswers> {
    if (!this.config.MAIL_CHECK_RECIPIENT_DOMAINS) return new Map();
    const domains = new Set(requests.flatMap((request) => recipientsOf(request).map(addressDomain)));
    return new Map(await Promise.all([...domains].map(async (domain) => [domain, await this.verdictOn(domain)] as const)));
  }

  async check({ requests, prepared: verdicts }: CheckBatch<DomainAnswers>): Promise<(CheckVerdict | null)[]> {
    if (!this.config.MAIL_CHECK_RECIPIENT_DOMAINS) return requests.map(() => null);
    return requests.map((request) => {
      for (const address of recipientsOf(request)) {
        const verdict = verdicts.get(addressDomain(address));
        if (verdict === undefined) throw new Error(`${address}: its domain was not looked up in prepare()`);
        if (verdict === 'not_found') {
          return { status: 'rejected', code: 'recipient_domain_not_found', reason: `${address}: its domain has no MX or address record` };
        }
        if (verdict === 'null_mx') {
          return { status: 'rejected', code: 'recipient_domain_null_mx', reason: `${address}: its domain accepts no mail (null MX, RFC 7505)` };
        }
      }
      return null;
    });
  }

  private async verdictOn(domain: string): Promise<DomainVerdict> {
    const cached = this.cache.get(domain);
    if (cached && cached.until > Date.now()) return cached.verdict;
    const verdict = await this.lookUp(domain);
    if (verdict !== 'unknown') {
      if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(domain, { verdict, until: Date.now() + CACHE_TTL_MS });
    }
    return verdict;
  }

  private async lookUp(domain: string): Promise<DomainVerdict> {
    try {
      const mx = await this.resolver.resolveMx(domain);
      if (mx.length === 0) return this.addressFallback(domain);
      // RFC 7505: a single MX with an empty exchange ("." on the wire) says the domain takes no mail.
      return mx.every((record) => record.exchange === '' || record.exchange === '.') ? 'null_mx' : 'receives';
    } catch (error) {
      if (isNoSuchName(error)) return this.addressFallback(domain);
      this.logger.warn(`looking up the MX of ${domain} failed (${describe(error)}); letting its mail through`);
      return 'unknown';
    }
  }

  /** No MX: the domain's own address is its mail server (RFC 5321 §5.1), if it has one. */
  private async addressFallback(domain: string): Promise<DomainVerdict> {
    const found = await Promise.all(
      [this.resolver.resolve4(domain), this.resolver.resolve6(domain)].map((lookup) =>
        lookup.then(
          (records) => (records.length > 0 ? 'yes' : 'no'),
          (error: unknown) => (isNoSuchName(error) ? 'no' : 'unknown'),
        ),
      ),
    );
    if (found.includes('yes')) return 'receives';
    return found.includes('unknown') ? 'unknown' : 'not_found';
  }
}

function isNoSuchName(error: unknown): boolean {
  return NO_SUCH_NAME.has((error as { code?: string }).code ?? '');
}

function describe(error: unknown): string {
  return (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error));
}
