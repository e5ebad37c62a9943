import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** One network an operator lets webhooks reach although it is not public (e.g. a test receiver). */
export interface AllowedNetwork {
  /** The entry as configured, for messages. */
  readonly cidr: string;
  readonly range: [Address, number];
}

/**
 * Networks exempt from the public-address rule, from `parseAllowedNetworks`. Empty by default:
 * webhooks reach public unicast addresses only.
 */
export interface AllowedNetworks {
  readonly networks: readonly AllowedNetwork[];
}

/** No exemption: only public unicast addresses are reachable. */
export const NO_ALLOWED_NETWORKS: AllowedNetworks = Object.freeze({ networks: Object.freeze([]) });

/**
 * Parses a comma-separated list of CIDRs (IPv4 and IPv6, e.g. `127.0.0.0/8,::1/128`); a bare
 * address counts as a single host. Throws an `Error` naming the first bad entry, so config
 * validation can report it. Empty or undefined allows nothing.
 */
export function parseAllowedNetworks(value: string | undefined): AllowedNetworks {
  if (value === undefined || value.trim() === '') return NO_ALLOWED_NETWORKS;
  const networks = value.split(',').map((raw): AllowedNetwork => {
    const cidr = raw.trim();
    const [address = '', prefix, extra] = cidr.split('/');
    // `net.isIP` is strict (no octal, hex or short IPv4 forms) where ipaddr.js would read `010.0.0.0` as 8.0.0.0.
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const length = prefix === undefined ? bits : /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
    const mapped = family === 6 && isMapped(address);
    if (family === 0 || address.includes('%') || extra !== undefined || !(length >= (mapped ? 96 : 0) && length <= bits)) {
      throw new Error(`"${cidr}" is not an IP network in CIDR notation (e.g. 10.1.0.0/16 or fd00::/8)`);
    }
    // Addresses are compared in their IPv4 form when IPv4-mapped (see `normalise`), so a mapped entry is too.
    return { cidr, range: [normalise(ipaddr.parse(address)), mapped ? length - 96 : length] };
  });
  return Object.freeze({ networks: Object.freeze(networks) });
}

/** Whether `ip` lies inside one of the allowed networks (not merely public). */
export function isInAllowedNetworks(ip: string, allowed: AllowedNetworks): boolean {
  const plain = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (isIP(plain) === 0) return false;
  const address = normalise(ipaddr.parse(plain));
  return allowed.networks.some(({ range }) => range[0].kind() === address.kind() && address.match(range));
}

/**
 * Why plain `http://` is refused for a host that resolves to `addresses`: webhooks carry email
 * addresses and metadata, and their signature does not hide them, so they travel in the clear only
 * inside the operator's allowed networks (a receiver on the same host or private network).
 */
export const PLAIN_HTTP_REFUSAL = 'http:// is accepted only for hosts inside the allowed networks (WEBHOOK_ALLOWED_NETWORKS); use https://';

/** {@link PLAIN_HTTP_REFUSAL} unless every address is inside an allowed network (and there is one). */
export function plainHttpRefusal(addresses: readonly string[], allowed: AllowedNetworks): string | undefined {
  return addresses.length > 0 && addresses.every((a) => isInAllowedNetworks(a, allowed)) ? undefined : PLAIN_HTTP_REFUSAL;
}

/** Why an address is refused, or undefined when webhooks may connect to it. */
export function addressRefusal(ip: string, allowed: AllowedNetworks): string | undefined {
  const plain = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (isIP(plain) === 0) return `${ip} is not an IP address`;
  const address = normalise(ipaddr.parse(plain));
  for (const { range } of allowed.networks) {
    if (range[0].kind() === address.kind() && address.match(range)) return undefined;
  }
  const range = address.range();
  if (range !== 'unicast') return `${plain} is in the ${words(range)} range`;
  // ipaddr.js calls every IPv6 address outside its special ranges unicast, including the deprecated
  // IPv4-compatible ::/96 (`::7f00:1`); only 2000::/3 is allocated for global unicast.
  if (address.kind() === 'ipv6' && !address.match(GLOBAL_UNICAST_V6)) return `${plain} is outside the global unicast range 2000::/3`;
  return undefined;
}

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/**
 * Whether webhooks may connect to `ip`: inside an allowed network, or a public unicast address
 * by ipaddr.js's special-range tables (loopback, RFC 1918, link-local and the metadata address
 * 169.254.169.254, CGNAT, ULA, multicast, reserved, 6to4, Teredo, NAT64… are not). An
 * IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
 */
export function isAddressAllowed(ip: string, allowed: AllowedNetworks): boolean {
  return addressRefusal(ip, allowed) === undefined;
}

/**
 * Registration-time check of an endpoint URL: `http:` or `https:`, no credentials, a host, and
 * an IP-literal host (in whatever form the WHATWG parser normalises: `0x7f.1`, `2130706433`,
 * `[::ffff:7f00:1]`) must be public or allowed; `localhost` and `*.localhost` are refused by name.
 * Other host names pass: they are checked after DNS resolution at every delivery, because what a
 * name resolves to can change after registration. `http:` with an IP literal must be inside an
 * allowed network; `http:` with a name is for the caller to resolve and judge with
 * {@link plainHttpRefusal} (`plainHttpName`).
 */
export function checkWebhookUrl(
  url: string,
  allowed: AllowedNetworks,
): { ok: true; url: URL; plainHttpName?: string } | { ok: false; reason: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'not a valid URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { ok: false, reason: `scheme ${parsed.protocol} is not http: or https:` };
  if (parsed.username !== '' || parsed.password !== '') return { ok: false, reason: 'credentials in the URL are not allowed' };
  const host = parsed.hostname.toLowerCase().replace(/\.$/, '');
  if (host === '') return { ok: false, reason: 'the URL has no host' };
  if (host === 'localhost' || host.endsWith('.localhost')) return { ok: false, reason: `${host} is a loopback name` };
  const literal = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIP(literal) !== 0) {
    const refusal = addressRefusal(literal, allowed);
    if (refusal !== undefined) return { ok: false, reason: refusal };
    if (parsed.protocol === 'http:') {
      const plain = plainHttpRefusal([literal], allowed);
      if (plain !== undefined) return { ok: false, reason: plain };
    }
    return { ok: true, url: parsed };
  }
  return parsed.protocol === 'http:' ? { ok: true, url: parsed, plainHttpName: host } : { ok: true, url: parsed };
}

function normalise(address: Address): Address {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

function isMapped(address: string): boolean {
  const parsed = ipaddr.parse(address);
  return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress();
}

/** `carrierGradeNat` → `carrier grade nat`, for messages. */
function words(range: string): string {
  return range.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}
