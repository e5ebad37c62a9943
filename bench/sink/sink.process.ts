import { SMTPServer } from 'smtp-server';
import { nowMs } from '../lib/clock.js';
import { serve } from '../lib/rpc.js';

/**
 * The counting SMTP sink, in its own process. It accepts every message and records, per message,
 * the time of its final `250` and its first recipient; bodies are only counted in bytes, never
 * parsed or kept, so the sink stays far from being the bottleneck.
 */
interface Arrival {
  recipient: string;
  at: number;
}

let arrivals: Arrival[] = [];
let bytes = 0;

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  disableReverseLookup: true,
  logger: false,
  maxClients: 1_000,
  size: 10 * 1024 * 1024,
  onData(stream, session, callback) {
    stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
    stream.on('end', () => {
      // Timestamped when the server answers, i.e. the client's SMTP accept.
      arrivals.push({ recipient: session.envelope.rcptTo[0]?.address ?? '', at: nowMs() });
      callback();
    });
  },
});
server.on('error', () => undefined);

serve({
  listen: () =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.server.address();
        if (address === null || typeof address === 'string') return reject(new Error('no TCP address'));
        resolve(address.port);
      });
    }),
  count: () => ({ count: arrivals.length, bytes }),
  /** Every arrival since the last `reset`, as `[recipient, at]` pairs. */
  arrivals: () => arrivals.map((a) => [a.recipient, a.at]),
  reset: () => {
    arrivals = [];
    bytes = 0;
    return true;
  },
});
