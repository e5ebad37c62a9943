import { nowMs } from '../lib/clock.js';
import { serve } from '../lib/rpc.js';
import { benchMail, createTransport } from './nodemailer-transport.js';

/**
 * Baseline 1, the sending ceiling: nodemailer alone, pooled, sending `total` mails as fast as the
 * pool takes them (at most `inFlight` handed to it at once).
 */
async function run(args: { smtpUrl: string; poolSize: number; total: number; tag: string; firstSeq: number; inFlight: number }) {
  const transport = createTransport(args.smtpUrl, args.poolSize);
  const startedAt = nowMs();
  let next = 0;
  let failed = 0;
  const lane = async () => {
    while (next < args.total) {
      const seq = args.firstSeq + next++;
      await transport.sendMail(benchMail(args.tag, seq)).catch(() => failed++);
    }
  };
  await Promise.all(Array.from({ length: args.inFlight }, lane));
  const endedAt = nowMs();
  transport.close();
  return { startedAt, endedAt, failed };
}

serve({ run });
