import { Queue, Worker } from 'bullmq';
import { nowMs } from '../lib/clock.js';
import { serve } from '../lib/rpc.js';
import { benchMail, createTransport } from './nodemailer-transport.js';

interface Args {
  smtpUrl: string;
  poolSize: number;
  redisUrl: string;
  prefix: string;
  total: number;
  tag: string;
  firstSeq: number;
  concurrency: number;
}

/**
 * Baseline 2, the usual alternative: a BullMQ queue and a worker (`concurrency`) in one process,
 * each job sending one mail through the pooled nodemailer transport. Jobs are added in batches
 * while the worker runs, as a producer would.
 */
async function run(args: Args) {
  const url = new URL(args.redisUrl);
  const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
  const transport = createTransport(args.smtpUrl, args.poolSize);
  const queue = new Queue('bench-send', { connection, prefix: args.prefix });
  let completed = 0;
  let failed = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new Worker(
    'bench-send',
    async (job) => {
      await transport.sendMail(benchMail(args.tag, job.data.seq as number));
    },
    { connection, prefix: args.prefix, concurrency: args.concurrency, removeOnComplete: { count: 0 }, removeOnFail: { count: 1_000 } },
  );
  const settle = () => {
    if (completed + failed === args.total) finish();
  };
  worker.on('completed', () => (completed++, settle()));
  worker.on('failed', () => (failed++, settle()));
  await worker.waitUntilReady();
  const startedAt = nowMs();
  for (let i = 0; i < args.total; i += 200) {
    const batch = Array.from({ length: Math.min(200, args.total - i) }, (_, j) => ({ name: 'send', data: { seq: args.firstSeq + i + j } }));
    await queue.addBulk(batch);
  }
  await finished;
  const endedAt = nowMs();
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  transport.close();
  return { startedAt, endedAt, failed };
}

serve({ run });
