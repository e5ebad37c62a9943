import { z } from 'zod';
import { isIP } from 'node:net';
import { redactValues, secretValuesOf } from './redaction.js';
import { toFieldErrors } from './validation.js';
import { parseRate } from './rate.js';
import { kafkaSecurityFields, postgresUrl, redisUrl } from './transport-config.js';

/**
 * Parses an app's environment once, at the edge, before Nest creates anything.
 * On failure it throws one error naming every bad key, so an operator fixes them all at once.
 * The error never holds a secret: the values of secret-named keys and the credentials of URL
 * keys are cut out of every message (a parser's message may quote the value it refused).
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv, app: string): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const secrets = secretValuesOf(env);
  const lines = toFieldErrors(result.error.issues).map((e) => `  ${e.path}: ${redactValues(e.message, secrets)}`);
  throw new Error(`${app}: invalid configuration\n${lines.join('\n')}`);
}

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function isExactOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

/**
 * With both replication settings given, `KAFKA_MIN_INSYNC_REPLICAS` must not exceed
 * `KAFKA_REPLICATION_FACTOR`: no acknowledged write could ever succeed. Call from a schema's superRefine.
 */
export function checkTopicReplication(c: { KAFKA_REPLICATION_FACTOR?: number | undefined; KAFKA_MIN_INSYNC_REPLICAS?: number | undefined }, ctx: z.RefinementCtx): void {
  if (c.KAFKA_REPLICATION_FACTOR !== undefined && c.KAFKA_MIN_INSYNC_REPLICAS !== undefined && c.KAFKA_MIN_INSYNC_REPLICAS > c.KAFKA_REPLICATION_FACTOR) {
    ctx.addIssue({ code: 'custom', path: ['KAFKA_MIN_INSYNC_REPLICAS'], message: 'must not exceed KAFKA_REPLICATION_FACTOR (no write could succeed)' });
  }
}

/** Config helpers shared by the apps' schemas. */
export const configFields = {
  /** A PostgreSQL URL; TLS (`sslmode`, `sslrootcert`) is set in it (see `postgresUrl`). */
  postgresUrl,
  redisUrl,
  /** Kafka TLS and SASL (`KAFKA_SSL*`, `KAFKA_SASL_*`): spread into the schema, checked by `resolveKafkaSecurity`. */
  kafkaSecurity: kafkaSecurityFields,
  brokers: () =>
    z
      .string()
      .min(1)
      .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port')).min(1)),
  port: (fallback: number) => z.coerce.number().int().min(1).max(65_535).default(fallback),
  /**
   * The address an HTTP listener binds to: an IP address or a host name. `0.0.0.0` (all IPv4
   * interfaces) is the default because in a container the orchestrator's port mapping reaches the
   * app through the container's own interface, never its loopback; on a bare host set 127.0.0.1
   * (or a private interface) so the port is not open to every network the host is on.
   */
  host: (fallback = '0.0.0.0') =>
    z
      .string()
      .default(fallback)
      .refine((v) => isIP(v) !== 0 || HOST_NAME.test(v), 'must be an IP address or a host name'),
  /**
   * Browser origins allowed to call the API cross-origin (CORS), comma-separated, each exactly
   * `scheme://host[:port]`; empty (the default): CORS off, browsers refuse cross-origin calls.
   */
  corsOrigins: () =>
    z
      .string()
      .default('')
      .transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean))
      .pipe(z.array(z.string().refine(isExactOrigin, 'each must be an origin, scheme://host[:port], without a path'))),
  topicPrefix: () => z.string().regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, . _ - only').default(''),
  /**
   * Partitions of the topics an app creates at start-up (existing topics are left as they are).
   * The default is `@app/kafka`'s `DEFAULT_TOPIC_PARTITIONS`, repeated here: common imports no lib.
   */
  topicPartitions: () => z.coerce.number().int().min(1).max(10_000).default(4),
  /**
   * `KAFKA_REPLICATION_FACTOR` and `KAFKA_MIN_INSYNC_REPLICAS` of the topics an app creates: unset,
   * 3 (capped at the live brokers) and 2 (1 below 3 copies), decided by `@app/kafka` when it
   * creates them. Checked against each other here; against the cluster at creation.
   */
  topicReplication: {
    KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(32).optional(),
    KAFKA_MIN_INSYNC_REPLICAS: z.coerce.number().int().min(1).max(32).optional(),
  },
  /**
   * How often the outbox relay looks for rows committed by another process (its own commits wake
   * it at once): the longest such a row waits. An idle look is one index-only query.
   */
  outboxPollIntervalMs: () => z.coerce.number().int().min(10).max(60_000).default(250),
  /** A retention age in whole days: 0 keeps the rows forever, anything else is at least `minDays`. */
  retentionDays: (fallback: number, minDays: number) =>
    z.coerce
      .number()
      .int()
      .max(36_500)
      .default(fallback)
      .refine((days) => days === 0 || days >= minDays, `0 (keep forever) or at least ${minDays} days`),
  /** Time between two retention passes. */
  retentionIntervalMs: () => z.coerce.number().int().min(1_000).max(86_400_000).default(3_600_000),
  /** A rate `<count>/<unit>` (`50/s`, `600/m`, `5000/h`; see `parseRate`). */
  rate: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((text, ctx) => {
        try {
          return parseRate(text);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
          return z.NEVER;
        }
      }),
};
