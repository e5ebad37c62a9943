// `npm run dev`: the whole system on one machine, for a newcomer.
//
// Brings the stack up (Kafka, PostgreSQL, Redis, databases), starts a development SMTP server
// that captures every message (no mail account needed) with a small web inbox, runs both apps
// in watch mode, registers a webhook on a small local receiver, sends a first email and shows it
// arrive, turn `sent`, and come back to the receiver as a signed `email.sent` delivery.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { SmtpCapture } from '../libs/testing/src/smtp-capture.js';
import { waitFor } from '../libs/testing/src/wait-for.js';
import { verifyWebhook } from '../libs/webhooks/src/receiver.js';

const SMTP_PORT = Number(process.env.DEV_SMTP_PORT ?? 2525);
const INBOX_PORT = Number(process.env.DEV_INBOX_PORT ?? 8025);
const BUSINESS_PORT = Number(process.env.BUSINESS_PORT ?? 3000);
const MAILER_PORT = Number(process.env.MAILER_PORT ?? 3001);
const WEBHOOK_PORT = Number(process.env.DEV_WEBHOOK_PORT ?? 8026);
const DEMO = process.env.DEV_DEMO !== '0';
// A development key for both apps (their bootstrap key, every scope): the one already exported
// (so a shell that ran `export EMAIL_LOOP_KEY=…` keeps working across restarts), else a new one.
const DEV_KEY = process.env.EMAIL_LOOP_KEY ?? `el_dev_${randomBytes(24).toString('base64url')}`;
const auth = { authorization: `Bearer ${DEV_KEY}` };

const env = {
  ...process.env,
  BUSINESS_DATABASE_URL: process.env.BUSINESS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/email_business',
  MAILER_DATABASE_URL: process.env.MAILER_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/email_mailer',
  KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  SMTP_URL: process.env.SMTP_URL ?? `smtp://127.0.0.1:${SMTP_PORT}`,
  // The embedded capture server speaks no TLS; a real SMTP_URL keeps the mailer's default (required).
  SMTP_TLS: process.env.SMTP_TLS ?? (process.env.SMTP_URL ? 'required' : 'none'),
  BUSINESS_PORT: String(BUSINESS_PORT),
  MAILER_PORT: String(MAILER_PORT),
  // Loopback: the apps' default (0.0.0.0, for containers) would open a laptop's ports to its network.
  BUSINESS_HOST: process.env.BUSINESS_HOST ?? '127.0.0.1',
  MAILER_HOST: process.env.MAILER_HOST ?? '127.0.0.1',
  BUSINESS_API_KEYS: process.env.BUSINESS_API_KEYS ?? DEV_KEY,
  MAILER_API_KEYS: process.env.MAILER_API_KEYS ?? DEV_KEY,
  // The demo receiver listens on loopback, which the SSRF guard refuses unless allowed.
  WEBHOOK_ALLOWED_NETWORKS: process.env.WEBHOOK_ALLOWED_NETWORKS ?? '127.0.0.0/8',
  // Bulk mail carries a one-click unsubscribe link to this app (a fixed secret: development only).
  UNSUBSCRIBE_BASE_URL: process.env.UNSUBSCRIBE_BASE_URL ?? `http://127.0.0.1:${BUSINESS_PORT}`,
  UNSUBSCRIBE_SECRET: process.env.UNSUBSCRIBE_SECRET ?? 'development-only-unsubscribe-secret-change-me',
  // Webhook secrets are encrypted at rest under this key: fixed so the dev database stays readable
  // across runs. Development only; production sets its own (`openssl rand -base64 32`).
  WEBHOOK_SECRETS_KEY: process.env.WEBHOOK_SECRETS_KEY ?? 'ZGV2ZWxvcG1lbnQtb25seS13ZWJob29rcy1rZXktMzI=',
};

const children: ChildProcess[] = [];
const say = (msg: string): void => console.log(`\x1b[36m[dev]\x1b[0m ${msg}`);

function startApp(app: 'business' | 'mailer'): void {
  const child = spawn('npx', ['nest', 'start', app, '--watch', '--preserveWatchOutput'], { env, stdio: 'inherit' });
  children.push(child);
}

async function main(): Promise<void> {
  const stack = spawnSync(process.execPath, ['scripts/stack.mjs', 'up'], { stdio: 'inherit' });
  if (stack.status !== 0) process.exit(stack.status ?? 1);

  const smtp = new SmtpCapture();
  await smtp.start(SMTP_PORT);
  smtp.onMail((m) => say(`📬 captured "${m.subject}" for ${m.recipients.join(', ')} (Message-ID ${m.messageId})`));
  createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(smtp.mails.map(({ raw: _raw, ...m }) => m), null, 2));
  }).listen(INBOX_PORT, '127.0.0.1');

  startApp('mailer');
  startApp('business');
  const businessUrl = `http://127.0.0.1:${BUSINESS_PORT}`;
  await waitFor(async () => (await fetch(`${businessUrl}/health`)).ok, { timeoutMs: 180_000, intervalMs: 500, description: 'business' });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${MAILER_PORT}/health`)).ok, { timeoutMs: 180_000, intervalMs: 500, description: 'mailer' });

  const curl = `curl -s -X POST ${businessUrl}/v1/emails -H "Authorization: Bearer $EMAIL_LOOP_KEY" -H 'content-type: application/json' -H 'Idempotency-Key: hello-1' \\
  -d '{"to":"ada@example.com","subject":"Hello","text":"It works!"}'`;
  say('everything is up:');
  say(`  business API   ${businessUrl}  (POST /v1/emails, GET /v1/emails/:id, GET /health, GET /health/ready)`);
  say(`  mailer health  http://127.0.0.1:${MAILER_PORT}/health  (readiness: /health/ready)`);
  say(`  captured mail  http://127.0.0.1:${INBOX_PORT}  (dev SMTP server on 127.0.0.1:${SMTP_PORT})`);
  say(`  webhooks       ${businessUrl}/v1/webhooks  (the demo's receiver: 127.0.0.1:${WEBHOOK_PORT})`);
  say(`API key of this run (both apps, every scope; development only):\n  export EMAIL_LOOP_KEY=${DEV_KEY}`);
  say(`send an email:\n${curl}`);

  if (DEMO) {
    const secret = await registerDemoWebhook(businessUrl);
    const res = await fetch(`${businessUrl}/v1/emails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ to: 'newcomer@example.com', subject: 'Your first email', text: 'Sent through the outbox, Kafka and SMTP.' }),
    });
    const { id } = (await res.json()) as { id: string };
    say(`sent a first email: ${id}`);
    const view = await waitFor(
      async () => {
        const v = (await (await fetch(`${businessUrl}/v1/emails/${id}`, { headers: auth })).json()) as { status: string };
        return v.status === 'sent' ? v : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'the first email to be sent' },
    );
    say(`GET /v1/emails/${id} →\n${JSON.stringify(view, null, 2)}`);
    await waitFor(() => secret.delivered.has(id), { timeoutMs: 60_000, intervalMs: 250, description: 'the email.sent webhook' });
  }
  say('watching for changes; Ctrl-C stops the apps (`npm run stack:down` stops Kafka)');
}

/**
 * A receiver on loopback that verifies each delivery (as the README's receiver does) and prints it,
 * registered for `email.sent`; resolves with the emails it has been told about.
 */
const DEMO_WEBHOOK = 'npm run dev demo';

async function registerDemoWebhook(businessUrl: string): Promise<{ delivered: Set<string> }> {
  const delivered = new Set<string>();
  let secret = '';
  createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        const event = verifyWebhook(Buffer.concat(chunks), req.headers, secret);
        say(`🔔 webhook ${event.type} for ${event.data.emailId}, signature verified (webhook-id ${String(req.headers['webhook-id'])})`);
        delivered.add(event.data.emailId);
        res.writeHead(204).end();
      } catch (error) {
        say(`webhook refused: ${String(error)}`);
        res.writeHead(400).end();
      }
    });
  }).listen(WEBHOOK_PORT, '127.0.0.1');
  // A previous run's endpoint has a secret this receiver does not know: replace it.
  const existing = (await (await fetch(`${businessUrl}/v1/webhooks?limit=200`, { headers: auth })).json()) as { items: { id: string; description?: string }[] };
  for (const old of existing.items) {
    if (old.description === DEMO_WEBHOOK) await fetch(`${businessUrl}/v1/webhooks/${old.id}`, { method: 'DELETE', headers: auth });
  }
  const response = await fetch(`${businessUrl}/v1/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ url: `http://127.0.0.1:${WEBHOOK_PORT}/webhooks`, events: ['email.sent'], description: DEMO_WEBHOOK }),
  });
  const endpoint = (await response.json()) as { id: string; secret: string };
  secret = endpoint.secret;
  say(`registered webhook ${endpoint.id} → http://127.0.0.1:${WEBHOOK_PORT}/webhooks (email.sent)`);
  return { delivered };
}

function shutdown(): void {
  for (const child of children) child.kill('SIGTERM');
  setTimeout(() => process.exit(0), 3_000).unref();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

main().catch((error: unknown) => {
  console.error(error);
  shutdown();
  process.exitCode = 1;
});
