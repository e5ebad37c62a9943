import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_VERSION, type EmailRequestedMessage } from '@app/contracts';
import { TestNameServer, type TestZone } from '@app/testing';
import { RecipientDomainCheck } from './recipient-domain.check.js';

/** What the test's name server answers: records per name and type; anything else is NXDOMAIN. */
const ZONE: TestZone = {
  'mx.example.test': { MX: [{ preference: 10, exchange: 'mail.mx.example.test' }] },
  'a-only.example.test': { A: ['192.0.2.10'] },
  'null-mx.example.test': { MX: [{ preference: 0, exchange: '.' }] },
  // Exists (it has a TXT-like record elsewhere) but neither MX nor address: answered NOERROR, empty.
  'empty.example.test': {},
};

const request = (to: string[]): EmailRequestedMessage => ({
  version: CONTRACT_VERSION,
  type: 'email.requested',
  emailId: '7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d',
  requestedAt: '2026-11-24T10:00:00.000Z',
  lane: 'transactional',
  to,
  subject: 'Hi',
  text: 'x',
});

describe('RecipientDomainCheck, against a name server on loopback', () => {
  const server = new TestNameServer(ZONE);
  let dnsServer: string;
  const check = (enabled = true) => new RecipientDomainCheck({ MAIL_CHECK_RECIPIENT_DOMAINS: enabled, DNS_SERVERS: [dnsServer], DNS_TIMEOUT_MS: 300 });
  /** The check as the chain runs it: its lookups in prepare(), then check() on their answers. */
  const verdictsOf = async (domains: RecipientDomainCheck, ...requests: EmailRequestedMessage[]) =>
    domains.check({ requests, manager: undefined as never, now: new Date(), prepared: await domains.prepare(requests) });

  beforeAll(async () => {
    dnsServer = await server.start();
  });
  afterAll(() => server.stop());

  it('lets through a domain with an MX, or with only an address (implicit MX); refuses no records and a null MX, with their codes', async () => {
    const verdicts = await verdictsOf(
      check(),
      request(['ada@mx.example.test']),
      request(['bob@A-Only.Example.Test']),
      request(['ada@mx.example.test', 'cy@nowhere.example.test']),
      request(['dee@empty.example.test']),
      request(['eve@null-mx.example.test']),
    );
    expect(verdicts.map((v) => v?.code ?? null)).toEqual([null, null, 'recipient_domain_not_found', 'recipient_domain_not_found', 'recipient_domain_null_mx']);
    expect(verdicts[2]).toMatchObject({ status: 'rejected', reason: expect.stringContaining('cy@nowhere.example.test') });
  });

  it('asks once per domain of a batch and remembers the answer', async () => {
    const domains = check();
    const before = server.queries.filter((q) => q === 'MX mx.example.test').length;
    await verdictsOf(domains, request(['a@mx.example.test']), request(['b@mx.example.test', 'c@MX.example.test']));
    await verdictsOf(domains, request(['d@mx.example.test']));
    expect(server.queries.filter((q) => q === 'MX mx.example.test').length - before).toBe(1);
  });

  it('lets the mail through when the resolver does not answer: DNS trouble never refuses mail', async () => {
    server.silentFor.add('slow.example.test');
    const [verdict] = await verdictsOf(check(), request(['ada@slow.example.test']));
    expect(verdict).toBeNull();
  });

  it('asks nothing while switched off (the default)', async () => {
    const before = server.queries.length;
    expect(await verdictsOf(check(false), request(['x@nowhere.example.test']))).toEqual([null]);
    expect(server.queries.length).toBe(before);
  });
});
