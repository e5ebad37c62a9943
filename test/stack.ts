import { randomBytes } from 'node:crypto';
import { AppProcess, SmtpCapture, TcpGate, createTestDatabase, dropTestDatabase } from '@app/testing';
import { freePort } from './infra/ports.js';

export { freePort };
export const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/**
 * The size of each of the mailer's per-lane SMTP pools (`SMTP_POOL_SIZE`, the default of both),
 * set explicitly because the fault suite bounds duplicates by the connections: only a pooled
 * connection can be inside the SMTP window.
 */
export const SMTP_POOL_SIZE = 5;

export interface StackOptions {
  /** Extra environment for every mailer instance. */
  mailerEnv?: Record<string, string>;
  /** Extra environment for every business instance. */
  businessEnv?: Record<string, string>;
  businessInstances?: number;
  mailerInstances?: number;
  /** A broker other than the shared one (e.g. a private broker the test restarts). */
  kafkaBrokers?: string;
  /** A PostgreSQL server other than the machine's (e.g. a private one the test restarts). */
  postgresAdminUrl?: string;
  /** The mailers reach Redis through {@link EmailLoopStack.redisGate}, so a test can cut them off from it. */
  redisGate?: boolean;
  /**
   * The mailer instances started with the stack reach PostgreSQL through
   * {@link EmailLoopStack.mailerDatabaseGate}; instances added later with `addMailer()` do not,
   * so a test can cut one instance's database path and not another's.
   */
  mailerDatabaseGate?: boolean;
}

/** Host and port of a `scheme://host:port` URL (with the scheme's default port). */
function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: parsed.port ? Number(parsed.port) : defaultPort };
}

/**
 * The whole loop for one test: fresh databases, a unique Kafka topic prefix and BullMQ prefix,
 * a capturing SMTP server, and the built apps as separate processes (one or more instances of
 * each, all sharing the app's database, as replicas behind a load balancer would).
 */
export class EmailLoopStack {
  readonly id = `t${randomBytes(4).toString('hex')}`;
  readonly topicPrefix = `${this.id}.`;
  /** `WEBHOOK_SECRETS_KEY` of the business instances. */
  readonly webhookSecretsKey = randomBytes(32).toString('base64');
  readonly smtp = new SmtpCapture();
  /** The mailers reach the SMTP server through this gate, so a test can cut them off. */
  smtpGate!: TcpGate;
  /** With `redisGate`: the mailers reach Redis through this gate. */
  redisGate?: TcpGate;
  /** With `mailerDatabaseGate`: the initial mailer instances reach PostgreSQL through this gate. */
  mailerDatabaseGate?: TcpGate;
  /** The business instances' bootstrap key (`BUSINESS_API_KEYS`): every scope. */
  readonly businessKey = `el_test_${randomBytes(24).toString('base64url')}`;
  /** The mailer instances' bootstrap key (`MAILER_API_KEYS`): every scope. */
  readonly mailerKey = `el_test_${randomBytes(24).toString('base64url')}`;
  kafkaBrokers = KAFKA_BROKERS;
  businessDatabaseUrl = '';
  mailerDatabaseUrl = '';
  businesses: AppProcess[] = [];
  mailers: AppProcess[] = [];
  private nextInstance = 0;
  /** Environment every mailer instance shares (database URL and port are per instance). */
  private mailerBaseEnv: Record<string, string> = {};

  get business(): AppProcess | undefined {
    return this.businesses[0];
  }

  get mailer(): AppProcess | undefined {
    return this.mailers[0];
  }

  /** The first business instance's base URL. */
  get businessUrl(): string {
    return this.businesses[0]?.baseUrl ?? '';
  }

  get mailerUrl(): string {
    return this.mailers[0]?.baseUrl ?? '';
  }

  async start(options: StackOptions = {}): Promise<void> {
    this.kafkaBrokers = options.kafkaBrokers ?? KAFKA_BROKERS;
    const adminUrl = options.postgresAdminUrl ?? POSTGRES_ADMIN_URL;
    this.smtpGate = new TcpGate(await this.smtp.start());
    const smtpPort = await this.smtpGate.open();
    let redisUrl = REDIS_URL;
    if (options.redisGate) {
      const redis = hostPort(REDIS_URL, 6379);
      this.redisGate = new TcpGate(redis.port, redis.host);
      const gated = new URL(REDIS_URL);
      gated.hostname = '127.0.0.1';
      gated.port = String(await this.redisGate.open());
      redisUrl = gated.toString();
    }
    this.businessDatabaseUrl = await createTestDatabase(`business_${this.id}`, adminUrl);
    this.mailerDatabaseUrl = await createTestDatabase(`mailer_${this.id}`, adminUrl);
    let initialMailerDatabaseUrl = this.mailerDatabaseUrl;
    if (options.mailerDatabaseGate) {
      const postgres = hostPort(this.mailerDatabaseUrl, 5432);
      this.mailerDatabaseGate = new TcpGate(postgres.port, postgres.host);
      const gated = new URL(this.mailerDatabaseUrl);
      gated.hostname = '127.0.0.1';
      gated.port = String(await this.mailerDatabaseGate.open());
      initialMailerDatabaseUrl = gated.toString();
    }
    this.mailerBaseEnv = {
      KAFKA_BROKERS: this.kafkaBrokers,
      KAFKA_TOPIC_PREFIX: this.topicPrefix,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: this.id,
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      SMTP_TLS: 'none', // the capture server speaks no TLS
      SMTP_POOL_SIZE: String(SMTP_POOL_SIZE),
      SEND_RETRY_BASE_MS: '200',
      MAILER_API_KEYS: this.mailerKey,
      // The suites send bursts far above the default per-key rate; a test of the limit sets its own.
      API_RATE_LIMIT: '100000/s',
      ...options.mailerEnv,
    };
    for (let i = 0; i < (options.mailerInstances ?? 1); i++) {
      this.mailers.push(await this.mailerProcess(initialMailerDatabaseUrl));
    }
    for (let i = 0; i < (options.businessInstances ?? 1); i++) {
      const port = await freePort();
      this.businesses.push(
        new AppProcess(
          'business',
          {
            BUSINESS_DATABASE_URL: this.businessDatabaseUrl,
            KAFKA_BROKERS: this.kafkaBrokers,
            KAFKA_TOPIC_PREFIX: this.topicPrefix,
            BUSINESS_PORT: String(port),
            BUSINESS_HOST: '127.0.0.1',
            // Not the default (`public`): the suites run the module's tables in a schema of their own.
            EMAIL_SCHEMA: 'email_loop',
            REDIS_URL: REDIS_URL,
            QUEUE_PREFIX: this.id,
            BUSINESS_API_KEYS: this.businessKey,
            API_RATE_LIMIT: '100000/s',
            // Required: webhook signing secrets are encrypted at rest under it (one per stack).
            WEBHOOK_SECRETS_KEY: this.webhookSecretsKey,
            ...options.businessEnv,
          },
          `http://127.0.0.1:${port}`,
          `${this.id}-business-${i}`,
        ),
      );
    }
    await Promise.all([...this.mailers, ...this.businesses].map((app) => app.start()));
  }

  /**
   * The SMTP connections every mailer instance may open, both lanes' pools together (what bounds
   * the SMTP window); the per-lane sizes fall back to `SMTP_POOL_SIZE` as the mailer's config does.
   */
  get smtpPoolSize(): number {
    const env = this.mailerBaseEnv;
    const shared = env.SMTP_POOL_SIZE ?? String(SMTP_POOL_SIZE);
    return Number(env.SMTP_POOL_SIZE_TRANSACTIONAL ?? shared) + Number(env.SMTP_POOL_SIZE_BULK ?? shared);
  }

  /**
   * Adds a mailer instance to the running stack (a scale-out), on the database directly (never
   * through `mailerDatabaseGate`), with the stack's mailer environment plus `env`; resolves once
   * it answers `/health`.
   */
  async addMailer(env: Record<string, string> = {}): Promise<AppProcess> {
    const mailer = await this.mailerProcess(this.mailerDatabaseUrl, env);
    this.mailers.push(mailer);
    await mailer.start();
    return mailer;
  }

  private async mailerProcess(databaseUrl: string, env: Record<string, string> = {}): Promise<AppProcess> {
    const port = await freePort();
    return new AppProcess(
      'mailer',
      { ...this.mailerBaseEnv, MAILER_DATABASE_URL: databaseUrl, MAILER_PORT: String(port), MAILER_HOST: '127.0.0.1', ...env },
      `http://127.0.0.1:${port}`,
      `${this.id}-mailer-${this.mailers.length}`,
    );
  }

  /** SIGTERMs every app; resolves with the exit codes of the first business and mailer. */
  async stop(): Promise<{ business: number | null; mailer: number | null }> {
    const [businessCodes, mailerCodes] = await Promise.all([
      Promise.all(this.businesses.map((app) => app.stop())),
      Promise.all(this.mailers.map((app) => app.stop())),
    ]);
    await Promise.all([this.smtpGate.cut(), this.redisGate?.cut(), this.mailerDatabaseGate?.cut()]);
    await this.smtp.stop();
    await Promise.all([dropTestDatabase(this.businessDatabaseUrl), dropTestDatabase(this.mailerDatabaseUrl)]);
    return { business: businessCodes[0] ?? null, mailer: mailerCodes[0] ?? null };
  }

  /** `Authorization: Bearer <key>` of the app's bootstrap key, for a `fetch` of its API. */
  authHeaders(app: 'business' | 'mailer' = 'business'): Record<string, string> {
    return { authorization: `Bearer ${app === 'business' ? this.businessKey : this.mailerKey}` };
  }

  /** POST to the business API with its key; with several instances, requests go round-robin as through a load balancer. */
  async post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.pickBusiness()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.authHeaders(), ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  }

  async get(path: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.pickBusiness()}${path}`, { headers: this.authHeaders() });
    return { status: res.status, body: await res.json().catch(() => null) };
  }

  private pickBusiness(): string {
    const live = this.businesses.filter((app) => app.running);
    const pool = live.length > 0 ? live : this.businesses;
    return pool[this.nextInstance++ % pool.length]?.baseUrl ?? '';
  }
}
