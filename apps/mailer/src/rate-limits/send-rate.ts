import { addressDomain } from '@app/contracts';
/** A send rate: at most `points` emails per `durationSeconds`. */
export interface SendRate {
  points: number;
  durationSeconds: number;
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3_600 } as const;

/**
 * Parses `<count>/<unit>`, unit `s`, `m` or `h` (`100/s`, `600/m`, `5000/h`). Whole seconds
 * only: the counters live in Redis keys that expire after the window (`EX`). Throws an `Error`
 * saying what is wrong, for config validation.
 */
export function parseSendRate(text: string): SendRate {
  const match = /^\s*(\d{1,9})\s*\/\s*([smh])\s*$/.exec(text);
  const points = Number(match?.[1]);
  if (!match || !(points >= 1)) throw new Error(`"${text}" is not a rate like 100/s, 600/m or 5000/h (count ≥ 1, unit s, m or h)`);
  return { points, durationSeconds: UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS] };
}

/**
 * Parses `domain:rate,domain:rate` (`gmail.com:20/s,yahoo.com:10/s`) into a map by lower-case
 * domain. A domain limits mail to addresses at exactly that domain (not its subdomains). Throws
 * on a bad entry or a domain given twice.
 */
export function parseDomainRates(text: string): Map<string, SendRate> {
  const rates = new Map<string, SendRate>();
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const colon = entry.indexOf(':');
    const domain = entry.slice(0, colon).trim().toLowerCase();
    if (colon < 1 || !/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(domain)) throw new Error(`"${entry}" is not domain:rate (e.g. gmail.com:20/s)`);
    if (rates.has(domain)) throw new Error(`${domain} is given twice`);
    rates.set(domain, parseSendRate(entry.slice(colon + 1)));
  }
  return rates;
}

/** The distinct lower-case domains of these addresses (the part after the last `@`). */
export function recipientDomains(addresses: readonly string[]): string[] {
  return [...new Set(addresses.map(addressDomain))];
}
