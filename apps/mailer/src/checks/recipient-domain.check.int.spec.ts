import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dnsPacket, { type Answer } from 'dns-packet';
import { CONTRACT_VERSION, type EmailRequestedMessage } from '@app/contracts';
import { RecipientDomainCheck } from './recipient-domain.check.js';
import type { CheckBatch } from './mail-check.js';

/** What the test's name server answers: records per name and type; anything else is NXDOMAIN. */
const ZONE: Record<string, Partial<Record<'MX' | 'A' | 'AAAA', unknown[]>>> = {
  'mx.example.test': { MX: [{ preference: 10, exchange: 'mail.mx.example.test' }] },
  'a-only.example.test': { A: ['192.0.2.10'] },
  'null-mx.example.test': { MX: [{ preference: 0, exchange: '.' }] },
  // Exists (it has a TXT-like record elsewhere) but neither MX nor address: answered NOERROR, empty.
  'empty.example.test': {},
};

/**
 * A real DNS server on loopback (UDP, wire format by dns-packet) that the check's resolver asks,
 * so the lookups, their errors and the fallbacks are the resolver's own, not a stand-in's.
 */
class TestNameServer {
  readonly queries: string[] = [];
  private readonly socket: Socket = createSocket('udp4');
  silentFor = new Set<string>();

  async start(): Promise<string> {
    this.socket.on('message', (message, peer) => {
      const query = dnsPacket.decode(message);
      const question = query.questions?.[0];
      if (!question) return;
      this.queries.push(`${question.type} ${question.name}`);
      if (this.silentFor.has(question.name)) return; // the resolver times out
      const zone = ZONE[question.name];
      const data = zone?.[question.type as 'MX' | 'A' | 'AAAA'] ?? [];
      const reply = dnsPacket.encode({
        id: query.id,
        type: 'response',
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (zone ? 0 : 3), // rcode 3: NXDOMAIN
        questions: [question],
        answers: data.map((d) => ({ type: question.type, name: question.name, ttl: 60, data: d }) as Answer),
      });
      this.socket.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.socket.address() as AddressInfo).port}`;
  }

  stop(): void {
    this.socket.close();
  }
}

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
const batch = (...requests: EmailRequestedMessage[]): CheckBatch => ({ requests, manager: undefined as never, now: new Date() });

describe('RecipientDomainCheck, against a name server on loopback', () => {
  const server = new TestNameServer();
  let dnsServer: string;
  const check = (enabled = true) => new RecipientDomainCheck({ MAIL_CHECK_RECIPIENT_DOMAINS: enabled, DNS_SERVERS: [dnsServer], DNS_TIMEOUT_MS: 300 });

  beforeAll(async () => {
    dnsServer = await server.start();
  });
  afterAll(() => server.stop());

  it('lets through a domain with an MX, or with only an address (implicit MX); refuses no records and a null MX, with their codes', async () => {
    const verdicts = await check().check(
      batch(
        request(['ada@mx.example.test']),
        request(['bob@A-Only.Example.Test']),
        request(['ada@mx.example.test', 'cy@nowhere.example.test']),
        request(['dee@empty.example.test']),
        request(['eve@null-mx.example.test']),
      ),
    );
    expect(verdicts.map((v) => v?.code ?? null)).toEqual([null, null, 'recipient_domain_not_found', 'recipient_domain_not_found', 'recipient_domain_null_mx']);
    expect(verdicts[2]).toMatchObject({ status: 'rejected', reason: expect.stringContaining('cy@nowhere.example.test') });
  });

  it('asks once per domain of a batch and remembers the answer', async () => {
    const domains = check();
    const before = server.queries.filter((q) => q === 'MX mx.example.test').length;
    await domains.check(batch(request(['a@mx.example.test']), request(['b@mx.example.test', 'c@MX.example.test'])));
    await domains.check(batch(request(['d@mx.example.test'])));
    expect(server.queries.filter((q) => q === 'MX mx.example.test').length - before).toBe(1);
  });

  it('lets the mail through when the resolver does not answer: DNS trouble never refuses mail', async () => {
    server.silentFor.add('slow.example.test');
    const [verdict] = await check().check(batch(request(['ada@slow.example.test'])));
    expect(verdict).toBeNull();
  });

  it('asks nothing while switched off (the default)', async () => {
    const before = server.queries.length;
    expect(await check(false).check(batch(request(['x@nowhere.example.test'])))).toEqual([null]);
    expect(server.queries.length).toBe(before);
  });
});
