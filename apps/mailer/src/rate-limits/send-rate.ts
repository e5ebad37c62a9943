import { parseRate, type Rate } from '@app/common';
import { addressDomain } from '@app/contracts';

/**
 * Parses `domain:rate,domain:rate` (`gmail.com:20/s,yahoo.com:10/s`) into a map by lower-case
 * domain. A domain limits mail to addresses at exactly that domain (not its subdomains). Throws
 * on a bad entry or a domain given twice.
 */
export function parseDomainRates(text: string): Map<string, Rate> {
  const rates = new Map<string, Rate>();
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':');
    const domain = entry.slice(0, colon).trim().toLowerCase();
    if (colon < 1 || !/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(domain)) throw new Error(`"${entry}" is not domain:rate (e.g. gmail.com:20/s)`);
    if (rates.has(domain)) throw new Error(`${domain} is given twice`);
    rates.set(domain, parseRate(entry.slice(colon + 1)));
  }
  return rates;
}

/** The distinct lower-case domains of these addresses (the part after the last `@`). */
export function recipientDomains(addresses: readonly string[]): string[] {
  return [...new Set(addresses.map(addressDomain))];
}
