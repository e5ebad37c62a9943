import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import dnsPacket, { type Answer } from 'dns-packet';

/** Records per name and type; a name not in the zone is NXDOMAIN, a listed name without the type answers NOERROR, empty. */
export type TestZone = Record<string, Partial<Record<'MX' | 'A' | 'AAAA', unknown[]>>>;

/**
 * A real DNS server on loopback (UDP, wire format by dns-packet) for a resolver under test to ask,
 * so lookups, their errors and their timeouts are the resolver's own, not a stand-in's.
 */
export class TestNameServer {
  /** Every question asked, as `TYPE name`, in order. */
  readonly queries: string[] = [];
  /** Names never answered: the resolver times out. */
  readonly silentFor = new Set<string>();
  /** Names answered only after this many milliseconds. */
  readonly delayMs = new Map<string, number>();
  private readonly socket: Socket = createSocket('udp4');

  constructor(private readonly zone: TestZone) {}

  /** Starts listening; returns `127.0.0.1:<port>`, for `DNS_SERVERS`. */
  async start(): Promise<string> {
    this.socket.on('message', (message, peer) => {
      const query = dnsPacket.decode(message);
      const question = query.questions?.[0];
      if (!question) return;
      this.queries.push(`${question.type} ${question.name}`);
      if (this.silentFor.has(question.name)) return;
      const zone = this.zone[question.name];
      const data = zone?.[question.type as 'MX' | 'A' | 'AAAA'] ?? [];
      const reply = dnsPacket.encode({
        id: query.id,
        type: 'response',
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (zone ? 0 : 3), // rcode 3: NXDOMAIN
        questions: [question],
        answers: data.map((d) => ({ type: question.type, name: question.name, ttl: 60, data: d }) as Answer),
      });
      setTimeout(() => this.socket.send(reply, peer.port, peer.address), this.delayMs.get(question.name) ?? 0);
    });
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.socket.address() as AddressInfo).port}`;
  }

  stop(): void {
    this.socket.close();
  }
}
