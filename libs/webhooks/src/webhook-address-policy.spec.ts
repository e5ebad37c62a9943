import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, isAddressAllowed, NO_ALLOWED_NETWORKS, parseAllowedNetworks, PLAIN_HTTP_REFUSAL, plainHttpRefusal } from './webhook-address-policy.js';

describe('parseAllowedNetworks', () => {
  it('reads IPv4 and IPv6 CIDRs and bare addresses, ignoring spaces', () => {
    const allowed = parseAllowedNetworks(' 127.0.0.0/8, ::1/128 ,10.1.0.0/16,192.168.5.7');
    expect(allowed.networks.map((n) => n.cidr)).toEqual(['127.0.0.0/8', '::1/128', '10.1.0.0/16', '192.168.5.7']);
    expect(isAddressAllowed('192.168.5.7', allowed)).toBe(true);
    expect(isAddressAllowed('192.168.5.8', allowed)).toBe(false);
  });

  it('allows nothing when empty or unset', () => {
    expect(parseAllowedNetworks(undefined).networks).toEqual([]);
    expect(parseAllowedNetworks('  ').networks).toEqual([]);
  });

  it.each(['10.0.0.0/33', '::1/129', 'not-a-cidr', '10.0.0.0/8/8', '010.0.0.0/8', '10.0.0.0/', '10.0.0.0/x', '', 'fe80::1%eth0/128', '::ffff:10.0.0.0/90'])(
    'throws naming the bad entry %j',
    (entry) => {
      expect(() => parseAllowedNetworks(`127.0.0.0/8,${entry}`)).toThrow(`"${entry}"`);
    },
  );

  it('an IPv4-mapped entry covers the IPv4 addresses it maps', () => {
    const allowed = parseAllowedNetworks('::ffff:10.9.0.0/112');
    expect(isAddressAllowed('10.9.3.4', allowed)).toBe(true);
    expect(isAddressAllowed('10.8.3.4', allowed)).toBe(false);
  });
});

describe('isAddressAllowed', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.4.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'cloud metadata (link-local)'],
    ['100.64.0.1', 'CGNAT'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.251', 'multicast'],
    ['198.18.0.1', 'benchmarking'],
    ['192.0.2.10', 'documentation'],
    ['240.0.0.1', 'reserved'],
    ['::1', 'IPv6 loopback'],
    ['::', 'IPv6 unspecified'],
    ['fd12:3456::1', 'ULA'],
    ['fe80::1', 'IPv6 link-local'],
    ['fe80::1%eth0', 'IPv6 link-local with a zone'],
    ['ff02::1', 'IPv6 multicast'],
    ['2002:a00:1::1', '6to4'],
    ['2001:0:4136:e378::1', 'Teredo'],
    ['64:ff9b::a00:1', 'NAT64'],
    ['2001:db8::1', 'documentation'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped metadata address in hex'],
    ['::7f00:1', 'IPv4-compatible (deprecated)'],
    ['not-an-ip', 'not an address'],
  ])('refuses %s (%s)', (ip) => {
    expect(isAddressAllowed(ip, NO_ALLOWED_NETWORKS)).toBe(false);
  });

  it.each(['8.8.8.8', '93.184.215.14', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows the public address %s', (ip) => {
    expect(isAddressAllowed(ip, NO_ALLOWED_NETWORKS)).toBe(true);
  });

  it('lets an allowed network override the public rule, for its own family only', () => {
    const allowed = parseAllowedNetworks('127.0.0.0/8,fd00:1::/32,10.1.0.0/16');
    expect(isAddressAllowed('127.0.0.1', allowed)).toBe(true);
    expect(isAddressAllowed('::ffff:127.0.0.1', allowed)).toBe(true);
    expect(isAddressAllowed('fd00:1:2::3', allowed)).toBe(true);
    expect(isAddressAllowed('10.1.200.3', allowed)).toBe(true);
    expect(isAddressAllowed('10.2.0.1', allowed)).toBe(false);
    expect(isAddressAllowed('::1', allowed)).toBe(false);
    expect(isAddressAllowed('169.254.169.254', allowed)).toBe(false);
  });
});

describe('checkWebhookUrl', () => {
  const refused = (url: string, allowed = NO_ALLOWED_NETWORKS): string => {
    const result = checkWebhookUrl(url, allowed);
    if (result.ok) throw new Error(`${url} was accepted`);
    return result.reason;
  };

  it('accepts https URLs with a host name or a public address', () => {
    const result = checkWebhookUrl('https://hooks.example.com:8443/in?x=1', NO_ALLOWED_NETWORKS);
    expect(result.ok && result.url.href).toBe('https://hooks.example.com:8443/in?x=1');
    expect(result.ok && result.plainHttpName).toBeUndefined();
    expect(checkWebhookUrl('https://8.8.8.8/hook', NO_ALLOWED_NETWORKS).ok).toBe(true);
    expect(checkWebhookUrl('https://[2606:4700:4700::1111]/hook', NO_ALLOWED_NETWORKS).ok).toBe(true);
  });

  it('accepts plain http only inside the allowed networks; a name is handed back to be resolved', () => {
    expect(refused('http://8.8.8.8/hook')).toBe(PLAIN_HTTP_REFUSAL);
    expect(refused('http://[2606:4700:4700::1111]/hook')).toBe(PLAIN_HTTP_REFUSAL);
    expect(refused('http://10.0.0.1/hook', parseAllowedNetworks('127.0.0.0/8'))).toContain('private');
    expect(checkWebhookUrl('http://10.0.0.1/hook', parseAllowedNetworks('10.0.0.0/8')).ok).toBe(true);
    const named = checkWebhookUrl('http://Hooks.Example.com/in', NO_ALLOWED_NETWORKS);
    expect(named.ok && named.plainHttpName).toBe('hooks.example.com');
    expect(plainHttpRefusal(['10.1.2.3'], parseAllowedNetworks('10.0.0.0/8'))).toBeUndefined();
    expect(plainHttpRefusal(['10.1.2.3', '8.8.8.8'], parseAllowedNetworks('10.0.0.0/8'))).toBe(PLAIN_HTTP_REFUSAL);
    expect(plainHttpRefusal([], parseAllowedNetworks('10.0.0.0/8'))).toBe(PLAIN_HTTP_REFUSAL);
  });

  it('refuses other schemes, credentials and garbage', () => {
    expect(refused('ftp://example.com/x')).toContain('ftp:');
    expect(refused('file:///etc/passwd')).toContain('file:');
    expect(refused('javascript:alert(1)')).toContain('javascript:');
    expect(refused('https://user:pass@example.com/')).toContain('credentials');
    expect(refused('https://user@example.com/')).toContain('credentials');
    expect(refused('not a url')).toBe('not a valid URL');
  });

  it.each(['http://localhost/', 'http://LOCALHOST:3000/', 'http://api.localhost/', 'http://localhost./'])('refuses the loopback name in %s', (url) => {
    expect(refused(url)).toContain('loopback name');
  });

  it.each([
    ['http://127.0.0.1/', 'loopback'],
    ['http://2130706433/', 'loopback'], // decimal 127.0.0.1
    ['http://0x7f.0.0.1/', 'loopback'], // hex
    ['http://0177.0.0.1/', 'loopback'], // octal
    ['http://127.1/', 'loopback'], // short form
    ['http://169.254.169.254/latest/meta-data/', 'link local'],
    ['http://0xa9fea9fe/', 'link local'], // the metadata address in hex
    ['http://10.0.0.1/', 'private'],
    ['http://0/', 'unspecified'],
    ['http://[::1]/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[::ffff:a9fe:a9fe]/', 'link local'],
    ['http://[fd00::1]/', 'unique local'],
    ['http://[fe80::1]/', 'link local'],
    ['http://100.100.100.200/', 'carrier grade nat'],
  ])('refuses %s (%s)', (url, range) => {
    expect(refused(url)).toContain(`${range} range`);
  });

  it('accepts a non-public literal inside an allowed network, and only there', () => {
    const allowed = parseAllowedNetworks('127.0.0.0/8,::1/128');
    expect(checkWebhookUrl('http://127.0.0.1:4000/hook', allowed).ok).toBe(true);
    expect(checkWebhookUrl('http://[::1]:4000/hook', allowed).ok).toBe(true);
    expect(checkWebhookUrl('http://2130706433/', allowed).ok).toBe(true);
    expect(refused('http://10.0.0.1/', allowed)).toContain('private');
    expect(refused('http://localhost:4000/', allowed)).toContain('loopback name');
  });
});
