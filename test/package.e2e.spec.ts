import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppProcess, SmtpCapture, createTestDatabase, dropTestDatabase, waitFor } from '@app/testing';
import { generateWebhookSecret, signWebhook } from '@app/webhooks';
import { KAFKA_BROKERS, REDIS_URL, freePort } from './stack.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
/** The versions this repository builds and tests with (so the install is served from npm's cache). */
const installed = (name: string): string =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * The email module as a package: packed with `npm run pack:module`, installed into a fresh
 * NestJS app outside this repository (its own package.json, compiled by tsc against the
 * package's types), migrated with the package's CLI, and run against the real mailer.
 */
describe('@email-loop/nestjs installed in a fresh NestJS app', () => {
  const id = `pkg${Date.now().toString(36)}`;
  const appName = `shop-${id}`;
  const hostDir = mkdtempSync(join(tmpdir(), 'email-loop-host-'));
  const smtp = new SmtpCapture();
  let hostDatabaseUrl = '';
  let mailerDatabaseUrl = '';
  let mailer: AppProcess | undefined;
  let host: ChildProcess | undefined;
  let hostOutput = '';

  const query = async <T>(sql: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: hostDatabaseUrl });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'scripts/build-package.mjs'), '--pack', hostDir], { cwd: ROOT });
    const tarball = stdout.trim().split('\n').at(-1) ?? '';
    cpSync(join(ROOT, 'test/package-host'), hostDir, { recursive: true });
    const dependencies: Record<string, string> = { '@email-loop/nestjs': `file:${tarball}` };
    for (const name of ['@nestjs/common', '@nestjs/core', '@nestjs/microservices', '@nestjs/platform-express', '@nestjs/typeorm', 'typeorm', 'reflect-metadata', 'rxjs']) {
      dependencies[name] = installed(name);
    }
    const devDependencies = { '@types/node': installed('@types/node'), typescript: installed('typescript') };
    writeFileSync(join(hostDir, 'package.json'), JSON.stringify({ name: 'host', private: true, type: 'module', dependencies, devDependencies }, null, 2));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: hostDir, timeout: 240_000 });
    await run(join(hostDir, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: hostDir });

    hostDatabaseUrl = await createTestDatabase(`host_${id}`);
    mailerDatabaseUrl = await createTestDatabase(`mailer_${id}`);
    // The host's own tables, in its own schema (`public`); the module's go to `email_loop`.
    await query(`CREATE TABLE orders (id text PRIMARY KEY, email_id uuid NOT NULL)`);
    await query(`CREATE TABLE email_outcomes (event_id uuid PRIMARY KEY, email_id uuid NOT NULL, order_id text, type text NOT NULL)`);
    await run(join(hostDir, 'node_modules/.bin/email-loop'), ['migrate', '--database-url', hostDatabaseUrl], { cwd: hostDir });

    const smtpPort = await smtp.start();
    const mailerPort = await freePort();
    mailer = new AppProcess(
      'mailer',
      {
        MAILER_DATABASE_URL: mailerDatabaseUrl,
        MAILER_PORT: String(mailerPort),
        KAFKA_BROKERS,
        KAFKA_TOPIC_PREFIX: `${appName}.`, // the module's default prefix for this appName
        REDIS_URL,
        QUEUE_PREFIX: id,
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
        SMTP_TLS: 'none', // the capture server speaks no TLS
      },
      `http://127.0.0.1:${mailerPort}`,
      `${id}-mailer`,
    );
    await mailer.start();

    const config = { databaseUrl: hostDatabaseUrl, brokers: KAFKA_BROKERS.split(','), appName };
    host = spawn(process.execPath, ['dist/main.js', JSON.stringify(config)], { cwd: hostDir, stdio: ['ignore', 'pipe', 'pipe'] });
    host.stdout?.on('data', (chunk: Buffer) => (hostOutput += chunk.toString()));
    host.stderr?.on('data', (chunk: Buffer) => (hostOutput += chunk.toString()));
    await waitFor(() => hostOutput.includes('HOST READY') || (host?.exitCode != null && Promise.reject(new Error(hostOutput))), {
      timeoutMs: 60_000,
      description: 'the host app to place its orders',
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n${hostOutput}`);
    });
  }, 420_000);

  afterAll(async () => {
    if (host && host.exitCode === null) {
      const exited = new Promise((done) => host?.once('exit', done));
      host.kill('SIGTERM');
      await exited;
    }
    await mailer?.stop();
    await smtp.stop();
    if (hostDatabaseUrl) await dropTestDatabase(hostDatabaseUrl);
    if (mailerDatabaseUrl) await dropTestDatabase(mailerDatabaseUrl);
    rmSync(hostDir, { recursive: true, force: true });
  });

  it('packs only the build, its types, the README and the CLI', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: join(ROOT, 'packages/nestjs') });
    const [{ files }] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const paths = files.map((f) => f.path);
    expect(paths).toContain('dist/email/src/index.d.ts');
    expect(paths).toContain('dist/email/src/migrate.cli.js');
    expect(paths.filter((p) => /spec|testing|apps\/|\.ts$/.test(p) && !p.endsWith('.d.ts'))).toEqual([]);
  });

  it('runs the README webhook receiver: a signed delivery is accepted once, a forged one refused', async () => {
    const secret = generateWebhookSecret();
    const port = await freePort();
    let output = '';
    const receiver = spawn(process.execPath, ['dist/webhook-receiver.js'], {
      cwd: hostDir,
      env: { ...process.env, WEBHOOK_SECRET: secret, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    receiver.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    receiver.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const body = JSON.stringify({ type: 'email.sent', timestamp: new Date().toISOString(), data: { emailId: randomUUID(), status: 'sent', eventId: randomUUID() } });
      const post = (headers: Record<string, string>, payload = body): Promise<number> =>
        fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload }).then((r) => r.status);
      const signed = signWebhook({ id: 'msg_readme', timestamp: new Date(), body, secrets: [secret] });
      await waitFor(() => post(signed).then((status) => status === 204, () => false), { timeoutMs: 15_000, description: 'the receiver to accept a signed delivery' });
      expect(await post(signed)).toBe(204); // a repeat is acknowledged, not processed again
      expect(await post(signed, body.replace('sent', 'failed'))).toBe(400);
      expect(await post(signWebhook({ id: 'msg_forged', timestamp: new Date(), body, secrets: [generateWebhookSecret()] }))).toBe(400);
      expect(output.trim().split('\n')).toEqual([expect.stringMatching(/^email\.sent [0-9a-f-]{36} sent$/)]);
    } finally {
      receiver.kill('SIGTERM');
    }
  });

  it("sends the committed order's email once, records the host's outcome once, and never sends the rolled-back one", async () => {
    const [order] = await query<{ email_id: string }>(`SELECT email_id FROM orders WHERE id = 'order-1'`);
    expect(order).toBeDefined();
    expect(await query(`SELECT id FROM orders WHERE id = 'order-2'`)).toEqual([]);
    expect(hostOutput).toContain('refused: order order-2 refused after send()');

    const outcomes = await waitFor(
      async () => {
        const rows = await query<{ email_id: string; order_id: string; type: string }>(`SELECT email_id, order_id, type FROM email_outcomes`);
        return rows.length > 0 ? rows : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: "the host's @OnEmailEvent('email.sent') handler to record the outcome" },
    );
    // Give a duplicate delivery time to show up before counting.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await query(`SELECT email_id, order_id, type FROM email_outcomes`)).toEqual(outcomes);
    expect(outcomes).toEqual([{ email_id: order?.email_id, order_id: 'order-1', type: 'email.sent' }]);
    expect(smtp.mails.map((m) => m.recipients)).toEqual([['buyer@example.test']]);
    expect(smtp.recipientAttempts.has('rolled-back@example.test')).toBe(false);
    expect(await query(`SELECT status FROM email_loop.emails`)).toEqual([{ status: 'sent' }]);
  });
});
