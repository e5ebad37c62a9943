import { z } from 'zod';
import { bootstrapApiKeysSchema } from '@app/auth';
import { booleanFlag, checkTopicReplication, configFields, fileContents, loadConfig, parseRate, resolveKafkaSecurity, withoutKafkaSecuritySettings } from '@app/common';
import { categorySchema, senderDomainListSchema, type Lane } from '@app/contracts';
import { TOPIC_MESSAGE_MAX_AGE_DAYS } from '@app/kafka';
import { resolveDkimSigning } from './sending/dkim-signing.js';
import { parseDomainRates } from './rate-limits/send-rate.js';

const poolSize = z.coerce.number().int().min(1).max(100);
const smtpUrl = z.url({ protocol: /^smtps?$/, message: 'must be an smtp:// or smtps:// URL' });

/**
 * `category:number` pairs separated by commas (`newsletter:86400,digest:3600`), into a map from
 * category to number. Empty (the default) is an empty map; a category given twice is an error.
 */
const perCategory = (max: number) =>
  z
    .string()
    .default('')
    .transform((value, ctx) => {
      const map = new Map<string, number>();
      for (const pair of value.split(',').map((p) => p.trim()).filter(Boolean)) {
        const match = /^([^:\s]+):(\d+)$/.exec(pair);
        const category = match && categorySchema.safeParse(match[1]).success ? match[1]! : undefined;
        const amount = match ? Number(match[2]) : NaN;
        if (category === undefined || !(amount >= 1 && amount <= max) || map.has(category)) {
          ctx.addIssue({ code: 'custom', message: `"${pair}": expected category:number (1..${max}), each category once` });
          return z.NEVER;
        }
        map.set(category, amount);
      }
      return map as ReadonlyMap<string, number>;
    });

/** A text setting read by `parse`, whose thrown message becomes the field's error. */
function parsed<T>(parse: (text: string) => T) {
  return z.string().transform((text, ctx) => {
    try {
      return parse(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  });
}

const mailerConfigSchema = z
  .object({
    MAILER_DATABASE_URL: configFields.postgresUrl(),
    KAFKA_BROKERS: configFields.brokers(),
    KAFKA_TOPIC_PREFIX: configFields.topicPrefix(),
    KAFKA_TOPIC_PARTITIONS: configFields.topicPartitions(),
    ...configFields.topicReplication,
    OUTBOX_POLL_INTERVAL_MS: configFields.outboxPollIntervalMs(),
    ...configFields.kafkaSecurity(),
    REDIS_URL: configFields.redisUrl(),
    /** PEM of a private CA that signed the Redis server's certificate (with a `rediss://` REDIS_URL). */
    REDIS_TLS_CA_FILE: fileContents().optional(),
    /** SMTP credentials, if the server wants them, are the URL's user and password (percent-encoded). */
    SMTP_URL: smtpUrl,
    /** A lane's own SMTP route (server, port, credentials), when it should not use SMTP_URL's. */
    SMTP_URL_TRANSACTIONAL: smtpUrl.optional(),
    SMTP_URL_BULK: smtpUrl.optional(),
    /**
     * SMTP connections per lane: each lane has a pool of its own, so a bulk backlog never holds
     * the connections a verification code needs. `SMTP_POOL_SIZE` (the single pool of earlier
     * versions) is the default of both when set; otherwise 10 and 5, half and all of the lanes'
     * default concurrency (a worker spends part of each send in PostgreSQL, not on its connection).
     */
    SMTP_POOL_SIZE: poolSize.optional(),
    SMTP_POOL_SIZE_TRANSACTIONAL: poolSize.optional(),
    SMTP_POOL_SIZE_BULK: poolSize.optional(),
    /**
     * TLS to the SMTP server(s), every route alike. `required` (default): STARTTLS must succeed
     * with a trusted certificate, or the URL is `smtps://` (TLS from the first byte); no mail and
     * no password ever travels in clear. `opportunistic`: STARTTLS when the server offers it,
     * plaintext otherwise (an attacker on the path can strip the offer). `none`: never TLS (a
     * local capture server).
     */
    SMTP_TLS: z.enum(['required', 'opportunistic', 'none']).default('required'),
    /** PEM of a private CA that signed the SMTP server's certificate; unset: the system's CAs. */
    SMTP_TLS_CA_FILE: fileContents().optional(),
    /** `false` accepts any certificate (encrypts, but no longer proves who the server is): for testing only. */
    SMTP_TLS_REJECT_UNAUTHORIZED: booleanFlag(true),
    /** How long to wait for a TCP connection and then for the server's greeting; past it the attempt is retried. */
    SMTP_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
    /** How long a connection may stay silent during a hand-off (a stuck server); past it the attempt is retried. */
    SMTP_SOCKET_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(60_000),
    MAILER_PORT: configFields.port(3001),
    MAILER_HOST: configFields.host(),
    CORS_ORIGINS: configFields.corsOrigins(),
    /**
     * API keys from configuration (docs: Security): comma-separated, each ≥ 24 characters, every
     * scope; held as hashes only. Unset: only keys created with `npm run keys` (none: every /v1 call is 401).
     */
    MAILER_API_KEYS: bootstrapApiKeysSchema(),
    /** Requests per API key across every instance (counted in Redis). */
    API_RATE_LIMIT: configFields.rate('50/s'),
    MAIL_FROM: z.string().min(3).default('Email Loop <no-reply@email-loop.local>'),
    /** Domain of the deterministic `Message-ID` (`<email id>@domain`); defaults to MAIL_FROM's. */
    MESSAGE_ID_DOMAIN: z.string().regex(/^[A-Za-z0-9.-]+$/).optional(),
    /**
     * Domains a request's `from` may use (comma-separated); a request from any other is
     * `rejected` (`sender_not_allowed`). Unset: only MAIL_FROM's own address.
     */
    MAIL_SENDER_DOMAINS: senderDomainListSchema,
    /** DKIM signing of every message (all four unset: none); see `resolveDkimSigning`. */
    DKIM_DOMAIN: z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a domain name').optional(),
    DKIM_SELECTOR: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only').optional(),
    DKIM_PRIVATE_KEY: z.string().min(1).optional(),
    DKIM_PRIVATE_KEY_FILE: z.string().min(1).optional(),
    SEND_CONCURRENCY_TRANSACTIONAL: z.coerce.number().int().min(1).max(500).default(20),
    SEND_CONCURRENCY_BULK: z.coerce.number().int().min(1).max(500).default(5),
    SEND_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
    SEND_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(2_000),
    /** The longest wait between two attempts (before jitter): the exponential back-off stops growing there. */
    SEND_RETRY_MAX_DELAY_MS: z.coerce.number().int().min(10).max(86_400_000).default(300_000),
    /**
     * No attempt starts later than this after the first attempt began: an email that could not be
     * handed over within it ends `failed` (`retry_window_elapsed`) even with attempts left.
     */
    SEND_RETRY_WINDOW_MS: z.coerce.number().int().min(10).max(7 * 86_400_000).default(3_600_000),
    /**
     * How long an attempt in `sending` is known alive without news from its worker, which renews
     * it every third of this while it talks SMTP. Only after it ran out is the attempt taken as
     * dead and the email sent again (or held, see UNCONFIRMED_SEND_*): a crashed mailer's emails
     * wait this long.
     */
    SEND_ATTEMPT_LEASE_MS: z.coerce.number().int().min(1_000).max(600_000).default(15_000),
    /** How often open requests are checked against the queue (Redis may have lost jobs). */
    SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    /**
     * Per lane: what to do with an email whose previous attempt started but never recorded an
     * outcome (the mailer died during the SMTP hand-off). `resend` (default): send again with the
     * same Message-ID, at-least-once. `hold`: mark it `unknown` for reconciliation, never twice.
     */
    UNCONFIRMED_SEND_TRANSACTIONAL: z.enum(['resend', 'hold']).default('resend'),
    UNCONFIRMED_SEND_BULK: z.enum(['resend', 'hold']).default('resend'),
    /**
     * Send rates (README "Rate limits"), shared by every mailer instance through Redis; unset, no
     * limit and no cost. `RATE_LIMIT_GLOBAL` counts every email of both lanes (`100/s`);
     * `RATE_LIMIT_DOMAINS` counts emails per recipient domain (`gmail.com:20/s,yahoo.com:600/m`).
     */
    RATE_LIMIT_GLOBAL: parsed(parseRate).optional(),
    RATE_LIMIT_DOMAINS: parsed(parseDomainRates).default(new Map()),
    /**
     * The share of each rate bulk mail may use (0–1]: the rest is kept for transactional mail, so
     * a bulk backlog cannot take the whole budget a login code needs. 1 lets bulk use it all.
     */
    RATE_LIMIT_BULK_SHARE: z.coerce.number().gt(0).max(1).default(0.8),
    QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9._-]+$/).default('email-loop'),
    /**
     * Retention (README "Retention"): `mail_requests` deduplicates requests by email id and the
     * inbox consumed messages, so both must outlive what Kafka can still redeliver.
     */
    MAIL_REQUEST_RETENTION_DAYS: configFields.retentionDays(30, TOPIC_MESSAGE_MAX_AGE_DAYS),
    INBOX_RETENTION_DAYS: configFields.retentionDays(14, TOPIC_MESSAGE_MAX_AGE_DAYS),
    RETENTION_INTERVAL_MS: configFields.retentionIntervalMs(),
    /** The mailer's checks (README "Sending platform"): limits of a request, in bytes and addresses. */
    MAIL_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1_024).max(100 * 1024 * 1024).default(10 * 1024 * 1024),
    /** Default: the three lists full (the API allows 50 each), so no email the API accepted is refused unless configured. */
    MAIL_MAX_RECIPIENTS: z.coerce.number().int().min(1).max(150).default(150),
    /**
     * Dedup: the same recipients and content within the window are sent once. Per category
     * (`DEDUP_CATEGORIES=newsletter:86400`, seconds, any lane); `DEDUP_WINDOW_SECONDS` is the
     * window of every other bulk email (0, the default: off). Transactional mail is deduplicated
     * only when its category is listed.
     */
    DEDUP_WINDOW_SECONDS: z.coerce.number().int().min(0).max(30 * 86_400).default(0),
    DEDUP_CATEGORIES: perCategory(30 * 86_400),
    /** At most N emails per recipient per category per UTC day (`FREQUENCY_CAP=newsletter:3`); none by default. */
    FREQUENCY_CAP: perCategory(1_000_000),
    /**
     * Refuse mail to a domain that cannot receive any (no MX and no address record, or a null MX,
     * RFC 7505) before trying SMTP. Off by default: it costs a DNS lookup per new domain (cached)
     * and a resolver that is down must not stop mail (such a lookup lets the email through).
     */
    MAIL_CHECK_RECIPIENT_DOMAINS: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
    /** The resolvers of that check (`ip` or `ip:port`, comma-separated); the system's by default. */
    DNS_SERVERS: z
      .string()
      .optional()
      .transform((v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []))
      .pipe(z.array(z.string().regex(/^[0-9a-fA-F.:[\]]+$/, 'must be ip or ip:port'))),
    DNS_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(2_000),
  })
  .transform((c, ctx) => {
    checkTopicReplication(c, ctx);
    const fromDomain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(c.MAIL_FROM)?.[1];
    const domain = c.MESSAGE_ID_DOMAIN ?? fromDomain;
    if (!domain) {
      ctx.addIssue({ code: 'custom', path: ['MESSAGE_ID_DOMAIN'], message: 'required when MAIL_FROM has no domain' });
      return z.NEVER;
    }
    const dkim = resolveDkimSigning(c);
    const kafka = resolveKafkaSecurity(c);
    const issues = [...dkim.issues, ...kafka.issues, ...transportIssues(c)];
    for (const issue of issues) ctx.addIssue({ code: 'custom', path: [issue.path], message: issue.message });
    if (issues.length > 0) return z.NEVER;
    const { SMTP_POOL_SIZE: sharedPoolSize, DKIM_PRIVATE_KEY: _key, DKIM_PRIVATE_KEY_FILE: _keyFile, REDIS_TLS_CA_FILE, SMTP_TLS_CA_FILE, ...rest } =
      withoutKafkaSecuritySettings(c);
    return {
      ...rest,
      /** kafkajs's `ssl` and `sasl` options (the KAFKA_SSL* and KAFKA_SASL_* variables, checked together). */
      KAFKA_SECURITY: kafka.security,
      REDIS_TLS_CA: REDIS_TLS_CA_FILE,
      SMTP_TLS_CA: SMTP_TLS_CA_FILE,
      MESSAGE_ID_DOMAIN: domain,
      /** nodemailer's `dkim` option, or undefined when messages go out unsigned. */
      DKIM: dkim.signing,
      SMTP_URL_TRANSACTIONAL: c.SMTP_URL_TRANSACTIONAL ?? c.SMTP_URL,
      SMTP_URL_BULK: c.SMTP_URL_BULK ?? c.SMTP_URL,
      SMTP_POOL_SIZE_TRANSACTIONAL: c.SMTP_POOL_SIZE_TRANSACTIONAL ?? sharedPoolSize ?? 10,
      SMTP_POOL_SIZE_BULK: c.SMTP_POOL_SIZE_BULK ?? sharedPoolSize ?? 5,
    };
  });

/** Combinations of the Redis and SMTP TLS settings that cannot mean what the operator wants. */
function transportIssues(c: {
  REDIS_URL: string;
  REDIS_TLS_CA_FILE?: string | undefined;
  SMTP_TLS: 'required' | 'opportunistic' | 'none';
  SMTP_TLS_CA_FILE?: string | undefined;
  SMTP_URL: string;
  SMTP_URL_TRANSACTIONAL?: string | undefined;
  SMTP_URL_BULK?: string | undefined;
}): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  if (c.REDIS_TLS_CA_FILE !== undefined && !c.REDIS_URL.startsWith('rediss:')) {
    issues.push({ path: 'REDIS_TLS_CA_FILE', message: 'requires a rediss:// REDIS_URL' });
  }
  if (c.SMTP_TLS === 'none') {
    if (c.SMTP_TLS_CA_FILE !== undefined) issues.push({ path: 'SMTP_TLS_CA_FILE', message: 'has no use with SMTP_TLS=none' });
    for (const name of ['SMTP_URL', 'SMTP_URL_TRANSACTIONAL', 'SMTP_URL_BULK'] as const) {
      if (c[name]?.startsWith('smtps:')) issues.push({ path: name, message: 'smtps:// is TLS from the first byte: not with SMTP_TLS=none' });
    }
  }
  return issues;
}

export type MailerConfig = z.output<typeof mailerConfigSchema>;

export function loadMailerConfig(env: NodeJS.ProcessEnv = process.env): MailerConfig {
  return loadConfig(mailerConfigSchema, env, 'mailer');
}

export type UnconfirmedSendPolicy = MailerConfig['UNCONFIRMED_SEND_TRANSACTIONAL'];

export function unconfirmedSendPolicy(config: MailerConfig, lane: Lane): UnconfirmedSendPolicy {
  return lane === 'bulk' ? config.UNCONFIRMED_SEND_BULK : config.UNCONFIRMED_SEND_TRANSACTIONAL;
}

/** How many SMTP connections the lane's pool may open. */
export function smtpPoolSize(config: MailerConfig, lane: Lane): number {
  return lane === 'bulk' ? config.SMTP_POOL_SIZE_BULK : config.SMTP_POOL_SIZE_TRANSACTIONAL;
}

/** Where the lane's mail is handed over: its own route, or SMTP_URL. */
export function smtpUrlOf(config: MailerConfig, lane: Lane): string {
  return lane === 'bulk' ? config.SMTP_URL_BULK : config.SMTP_URL_TRANSACTIONAL;
}

/**
 * The `Message-ID` every attempt of an email is sent with: the same on a resend, so recipients'
 * servers and operators (reconciliation looks it up at the provider) can tell the copies apart.
 */
export function messageIdOf(config: MailerConfig, emailId: string): string {
  return `<${emailId}@${config.MESSAGE_ID_DOMAIN}>`;
}

/** The dedup window of a request of `lane` and `category`, in seconds; 0 when it is not deduplicated. */
export function dedupWindowSeconds(config: MailerConfig, lane: Lane, category: string | undefined): number {
  const perCategory = category === undefined ? undefined : config.DEDUP_CATEGORIES.get(category);
  return perCategory ?? (lane === 'bulk' ? config.DEDUP_WINDOW_SECONDS : 0);
}

/** How many emails of `category` one recipient may get per UTC day; undefined when not capped. */
export function frequencyCap(config: MailerConfig, category: string | undefined): number | undefined {
  return category === undefined ? undefined : config.FREQUENCY_CAP.get(category);
}

export const MAILER_CONFIG = Symbol('MAILER_CONFIG');
