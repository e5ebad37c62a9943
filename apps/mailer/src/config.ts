import { z } from 'zod';
import { configFields, loadConfig } from '@app/common';
import type { Lane } from '@app/contracts';
import { TOPIC_MESSAGE_MAX_AGE_DAYS } from '@app/kafka';
import { parseDomainRates, parseSendRate } from './rate-limits/send-rate.js';

const poolSize = z.coerce.number().int().min(1).max(100);

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
    OUTBOX_POLL_INTERVAL_MS: configFields.outboxPollIntervalMs(),
    REDIS_URL: z.url({ protocol: /^rediss?$/, message: 'must be a redis:// URL' }),
    SMTP_URL: z.url({ protocol: /^smtps?$/, message: 'must be an smtp:// or smtps:// URL' }),
    /**
     * SMTP connections per lane: each lane has a pool of its own, so a bulk backlog never holds
     * the connections a verification code needs. `SMTP_POOL_SIZE` (the single pool of earlier
     * versions) is the default of both when set; otherwise 10 and 5, half and all of the lanes'
     * default concurrency (a worker spends part of each send in PostgreSQL, not on its connection).
     */
    SMTP_POOL_SIZE: poolSize.optional(),
    SMTP_POOL_SIZE_TRANSACTIONAL: poolSize.optional(),
    SMTP_POOL_SIZE_BULK: poolSize.optional(),
    /** How long to wait for a TCP connection and then for the server's greeting; past it the attempt is retried. */
    SMTP_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
    /** How long a connection may stay silent during a hand-off (a stuck server); past it the attempt is retried. */
    SMTP_SOCKET_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(60_000),
    MAILER_PORT: configFields.port(3001),
    MAIL_FROM: z.string().min(3).default('Email Loop <no-reply@email-loop.local>'),
    /** Domain of the deterministic `Message-ID` (`<email id>@domain`); defaults to MAIL_FROM's. */
    MESSAGE_ID_DOMAIN: z.string().regex(/^[A-Za-z0-9.-]+$/).optional(),
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
    RATE_LIMIT_GLOBAL: parsed(parseSendRate).optional(),
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
  })
  .transform((c, ctx) => {
    const fromDomain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(c.MAIL_FROM)?.[1];
    const domain = c.MESSAGE_ID_DOMAIN ?? fromDomain;
    if (!domain) {
      ctx.addIssue({ code: 'custom', path: ['MESSAGE_ID_DOMAIN'], message: 'required when MAIL_FROM has no domain' });
      return z.NEVER;
    }
    const { SMTP_POOL_SIZE: sharedPoolSize, ...rest } = c;
    return {
      ...rest,
      MESSAGE_ID_DOMAIN: domain,
      SMTP_POOL_SIZE_TRANSACTIONAL: c.SMTP_POOL_SIZE_TRANSACTIONAL ?? sharedPoolSize ?? 10,
      SMTP_POOL_SIZE_BULK: c.SMTP_POOL_SIZE_BULK ?? sharedPoolSize ?? 5,
    };
  });

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

/**
 * The `Message-ID` every attempt of an email is sent with: the same on a resend, so recipients'
 * servers and operators (reconciliation looks it up at the provider) can tell the copies apart.
 */
export function messageIdOf(config: MailerConfig, emailId: string): string {
  return `<${emailId}@${config.MESSAGE_ID_DOMAIN}>`;
}

export const MAILER_CONFIG = Symbol('MAILER_CONFIG');
