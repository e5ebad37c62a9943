#!/usr/bin/env node
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { SQL_SCHEMA_PATTERN, configFields, loadConfig, resolveKafkaSecurity, type Page } from '@app/common';
import { PARKED_CODE } from '@app/contracts';
import { KafkaClient, KafkaDeadLetters, KafkaProducer, KafkaTopics, type KafkaModuleOptions, type TopicPosition } from '@app/kafka';
import { OutboxDeadLetters, type OutboxDeadLetter } from '@app/outbox';
import { DeadLetterReplaysRepository, type DeadLetterReplay, type ReplayCursor } from './dead-letter-replays.repository.js';
import { DeadLettersService, type DeadLetterSummary } from './dead-letters.service.js';

const APPS = { business: 'BUSINESS_DATABASE_URL', mailer: 'MAILER_DATABASE_URL' } as const;
type App = keyof typeof APPS;

const USAGE = `usage: npm run dead-letters -- <command> --app business|mailer [options]

  topics                                          the .dlq topics and how many messages each holds
  list --topic <t.dlq> [--code <code>]            its messages (--code ${PARKED_CODE}: the parked ones)
  show --topic <t.dlq> --at <partition>/<offset>  one message: reason, headers, value
  replay --topic <t.dlq> --at <partition>/<offset>
  replay --topic <t.dlq> --all [--code <code>]    publishes to the source topic again (key, headers,
                                                  plus x-replayed-from and x-replay-id); recorded
  outbox list | outbox show <id> | outbox replay <id>
                                                  the app's outbox dead letters (replay = requeue)
  replays                                         the record of replays on this app, newest first
  --json                                          machine-readable output

Topics are named without the deployment's prefix (e.g. mail.events.dlq). Reads the app's own
variables: ${APPS.business} or ${APPS.mailer}, KAFKA_BROKERS, KAFKA_TOPIC_PREFIX, KAFKA_SSL*,
KAFKA_SASL_*, and for business EMAIL_SCHEMA (where its outbox is). A replay is recorded in the
app's dead_letter_replays table as cli:<user>; the app must have started once (it creates it).`;

/** The variables the CLI shares with the app it acts for, checked by the same fields. */
const envSchema = z
  .object({
    DATABASE_URL: configFields.postgresUrl(),
    KAFKA_BROKERS: configFields.brokers(),
    KAFKA_TOPIC_PREFIX: configFields.topicPrefix(),
    EMAIL_SCHEMA: z.string().regex(SQL_SCHEMA_PATTERN).default('public'),
    ...configFields.kafkaSecurity(),
  })
  .transform((c, ctx) => {
    const kafka = resolveKafkaSecurity(c);
    for (const issue of kafka.issues) ctx.addIssue({ code: 'custom', path: [issue.path], message: issue.message });
    return { ...c, KAFKA_SECURITY: kafka.security };
  });

const positionOf = (at: string | undefined): TopicPosition | undefined => {
  const match = /^(\d{1,6})\/(\d{1,19})$/.exec(at ?? '');
  return match ? { partition: Number(match[1]), offset: match[2]! } : undefined;
};

/**
 * `npm run dead-letters`: the operator API's dead-letter commands (`/v1/dead-letters`) for an
 * operator with access to the app's database and broker, with the same code behind them.
 */
async function main(argv: string[]): Promise<number> {
  // stdout is the command's output (JSON with --json): the libraries' logs go to stderr.
  const toStderr = (message: unknown): void => void process.stderr.write(`${String(message)}\n`);
  Logger.overrideLogger({ log: toStderr, warn: toStderr, error: toStderr, debug: () => undefined, verbose: () => undefined });
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      app: { type: 'string' },
      topic: { type: 'string' },
      at: { type: 'string' },
      code: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, subcommand, id] = positionals;
  const app = values.app as App | undefined;
  if (values.help || !command || !['topics', 'list', 'show', 'replay', 'replays', 'outbox'].includes(command) || app === undefined || !(app in APPS)) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  // A CLI entry point reads its environment at the edge, like an app's config.ts.
  const env = loadConfig(envSchema, { ...process.env, DATABASE_URL: process.env[APPS[app]] }, 'dead-letters');
  const kafkaOptions: KafkaModuleOptions = { brokers: env.KAFKA_BROKERS, clientId: `${app}-dead-letters-cli`, topicPrefix: env.KAFKA_TOPIC_PREFIX, ...env.KAFKA_SECURITY };
  const client = new KafkaClient(kafkaOptions);
  const producer = new KafkaProducer(client);
  const dataSource = new DataSource({ type: 'postgres', url: env.DATABASE_URL });
  await dataSource.initialize();
  try {
    const names = new KafkaTopics(kafkaOptions);
    const outbox = new OutboxDeadLetters(dataSource, { schema: app === 'business' ? env.EMAIL_SCHEMA : 'public' });
    const service = new DeadLettersService(new KafkaDeadLetters(client, producer, names), names, outbox, new DeadLetterReplaysRepository(dataSource));
    const actor = { keyId: null, name: `cli:${userInfo().username}` };
    const print = (value: unknown, text: () => string): void => console.log(values.json ? JSON.stringify(value) : text());

    if (command === 'topics') {
      const topics = await service.topics();
      print(topics, () => topics.map((t) => `${t.topic}\t${t.messages}`).join('\n'));
      return 0;
    }
    if (command === 'replays') {
      const items = await collect<DeadLetterReplay, ReplayCursor>((after) => service.listReplays(after ? { limit: 200, after } : { limit: 200 }));
      print(items, () => items.map((r) => [r.replayedAt.toISOString(), r.replayedBy, r.origin, r.origin === 'kafka' ? `${r.deadLetterTopic}/${r.deadLetterPartition}/${r.deadLetterOffset}` : `outbox ${r.outboxId}`, `→ ${r.targetTopic}`].join('\t')).join('\n'));
      return 0;
    }
    if (command === 'outbox') {
      if (subcommand === 'list') {
        const items = await collect<OutboxDeadLetter, string>((after) => service.outboxList(after ? { limit: 200, after } : { limit: 200 }));
        print(items, () => items.map((d) => [d.id, d.topic, d.key, `${d.attempts} attempts`, d.lastError ?? ''].join('\t')).join('\n'));
        return 0;
      }
      const rowId = z.string().regex(/^\d{1,19}$/).safeParse(id);
      if (!['show', 'replay'].includes(subcommand ?? '') || !rowId.success) return usage('outbox list | outbox show <id> | outbox replay <id> (the id as outbox list shows it)');
      if (subcommand === 'show') {
        const row = await service.outboxGet(rowId.data);
        print(row, () => JSON.stringify(row, null, 2));
        return 0;
      }
      const replay = await service.outboxReplay(rowId.data, actor);
      print(replay, () => `requeued outbox row ${rowId.data} for ${replay.targetTopic} (replay ${replay.id})`);
      return 0;
    }
    const topic = values.topic;
    if (!topic || !/^[A-Za-z0-9._-]+\.dlq$/.test(topic)) return usage('--topic <topic>.dlq is required (without the deployment prefix)');
    if (command === 'list') {
      const items = await collectSummaries(service, topic, values.code);
      print(items, () => items.map(line).join('\n'));
      return 0;
    }
    if (command === 'show') {
      const at = positionOf(values.at);
      if (!at) return usage('--at <partition>/<offset> is required');
      const detail = await service.get(topic, at);
      print(detail, () => JSON.stringify(detail, null, 2));
      return 0;
    }
    const targets = values.all ? (await collectSummaries(service, topic, values.code)).map((d) => ({ partition: d.partition, offset: d.offset })) : [positionOf(values.at)];
    if (targets.some((t) => t === undefined)) return usage('replay needs --at <partition>/<offset> or --all');
    const done = [];
    for (const at of targets as TopicPosition[]) {
      const replay = await service.replay(topic, at, actor);
      done.push(replay);
      if (!values.json) console.log(`replayed ${topic}/${at.partition}/${at.offset} to ${replay.targetTopic} (replay ${replay.id})`);
    }
    if (values.json) console.log(JSON.stringify(done));
    return 0;
  } finally {
    await producer.onApplicationShutdown();
    await dataSource.destroy();
  }
}

function usage(message: string): number {
  console.error(`dead-letters: ${message}\n\n${USAGE}`);
  return 2;
}

function line(d: DeadLetterSummary): string {
  return [`${d.partition}/${d.offset}`, d.deadLetteredAt, d.code ?? '', d.key ?? '', d.reason ?? ''].join('\t');
}

/** Every page of a cursor-paginated list (`nextCursor` decoded by the page function's own `after`). */
async function collect<T, K>(page: (after?: K) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let after: K | undefined;
  for (;;) {
    const result = await page(after);
    items.push(...result.items);
    if (result.nextCursor === null) return items;
    after = JSON.parse(Buffer.from(result.nextCursor, 'base64url').toString('utf8')) as K;
  }
}

function collectSummaries(service: DeadLettersService, topic: string, code: string | undefined): Promise<DeadLetterSummary[]> {
  return collect<DeadLetterSummary, TopicPosition>((after) => service.list(topic, after ? { limit: 200, after } : { limit: 200 }, code));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // 42P01: undefined_table; never print a database URL (it may hold a password).
    const missing = (error as { code?: unknown }).code === '42P01';
    console.error(missing ? 'dead-letters: the dead_letter_replays table does not exist yet: start the app once (it runs its migrations)' : `dead-letters failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
