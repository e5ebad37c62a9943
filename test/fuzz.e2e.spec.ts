import { mkdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import pg from 'pg';
import type { z } from 'zod';
import {
  DeadLetterHeaders,
  Topics,
  deadLetterTopic,
  emailEventMessageSchema,
  emailRequestSchema,
  mailRequestsTopicMessageSchema,
  suppressionChangedMessageSchema,
} from '@app/contracts';
import { waitFor } from '@app/testing';
import { EmailLoopStack, KAFKA_BROKERS } from './stack.js';
import {
  NASTY_PIECES,
  POLLUTING_KEYS,
  PWNED,
  adversarialAuthorization,
  adversarialHeaderValue,
  adversarialString,
  adversarialValue,
  deepJsonText,
  garbageBody,
  holdsUnstorableText,
  mutatedJson,
  mutation,
  overlongString,
  templateData,
  templateInjection,
  type Mutation,
} from './fuzz/arbitraries.js';
import { rawRequest, type RawHeader, type RawResponse } from './fuzz/raw-http.js';

/**
 * Property-based fuzzing of both apps (fast-check), end to end: adversarial HTTP bodies, headers
 * and paths, and adversarial Kafka payloads, against the built apps on the real Kafka, PostgreSQL,
 * Redis and SMTP capture. Every property asks the same of each case:
 *
 * - HTTP: a clean `4xx` in our error shape (`{ error: { code, message } }`) with no row written,
 *   or a success that is genuinely valid (the contract schema accepts the body, nothing unstorable
 *   in it, and the result reads back); never a `5xx`, a hang, or a dead process.
 * - Kafka: each fuzzed message ends in `<topic>.dlq` with a reason header, or is valid and applied;
 *   a valid message published after them is still processed (no stuck partition).
 *
 * `FUZZ_SEED` (default {@link DEFAULT_SEED}) and `FUZZ_RUNS` / `FUZZ_KAFKA_RUNS` choose the cases;
 * `FUZZ_PATH` with `-t '<property>'` replays the path fast-check printed for a failure. The cases
 * run are printed (`fuzz: N cases, seed S`) and written to `test-output/fuzz-summary.json`.
 * See docs/security/fuzz.md.
 */

const DEFAULT_SEED = 42;
const SEED = Number(process.env.FUZZ_SEED ?? DEFAULT_SEED);
/** Cases per HTTP property. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
/** Rounds per Kafka topic; each round publishes 1–6 fuzzed messages and then a valid one. */
const KAFKA_RUNS = Number(process.env.FUZZ_KAFKA_RUNS ?? 12);
const PATH = process.env.FUZZ_PATH;

// ---------------------------------------------------------------------------------------------
// Authentication: the ONE place requests get their credentials (each app's bootstrap key).
// ---------------------------------------------------------------------------------------------
type AppName = 'business' | 'mailer';
/** Every /v1 route needs an API key: a garbage `Authorization` must be a 401. */
const AUTH_REQUIRED = true;
function authHeaders(app: AppName, stack: EmailLoopStack): RawHeader[] {
  return [['authorization', `Bearer ${app === 'business' ? stack.businessKey : stack.mailerKey}`]];
}

interface CallOptions {
  body?: string | Buffer;
  headers?: readonly RawHeader[];
  /** Default `application/json`; `null` sends none. */
  contentType?: string | null;
  /** Default true: send the app's credentials ({@link authHeaders}). */
  auth?: boolean;
  timeoutMs?: number;
}

describe('fuzzing both apps: HTTP bodies, headers, paths and Kafka payloads', () => {
  const stack = new EmailLoopStack();
  const kafka = new Kafka({ clientId: 'fuzz', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
  let producer: Producer;
  let deadLetterReader: Consumer;
  /** Dead letters seen so far, by the `x-fuzz-id` header the suite puts on every fuzzed message. */
  const deadLetters = new Map<string, { topic: string; headers: Record<string, string> }>();
  let businessDb: pg.Client;
  let mailerDb: pg.Client;
  /** Schema-qualified names of the tables a refused request must leave alone. */
  let businessTables: Record<'emails' | 'outbox' | 'email_templates' | 'webhook_endpoints', string>;
  /** An email that exists and was sent (cancel targets, and the key of the events canary). */
  let knownEmailId = '';
  let knownWebhookId = '';
  const summary: { seed: number; properties: Record<string, { cases: number; runs: number; passed: boolean; statuses: Record<string, number>; failure?: string }> } = { seed: SEED, properties: {} };

  /** The property running: its answers are tallied by status (how many refusals, how many successes). */
  let current: (typeof summary.properties)[string] | undefined;

  /** One request to an app, written raw (see `rawRequest`), with the app's credentials. */
  async function call(app: AppName, method: string, path: string, options: CallOptions = {}): Promise<RawResponse> {
    const contentType = options.contentType === undefined ? 'application/json' : options.contentType;
    const res = await rawRequest({
      baseUrl: app === 'business' ? stack.businessUrl : stack.mailerUrl,
      method,
      path,
      headers: [...(options.auth === false ? [] : authHeaders(app, stack)), ...(contentType === null ? [] : [['content-type', contentType] as const]), ...(options.headers ?? [])],
      ...(options.body !== undefined && { body: options.body }),
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    });
    if (current) current.statuses[res.status] = (current.statuses[res.status] ?? 0) + 1;
    return res;
  }

  beforeAll(async () => {
    // One partition per topic, so the valid message after the fuzzed ones is behind them.
    const kafkaEnv = { KAFKA_TOPIC_PARTITIONS: '1', MAIL_SENDER_DOMAINS: 'example.test' };
    await stack.start({ businessEnv: { ...kafkaEnv, WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8' }, mailerEnv: kafkaEnv });
    businessDb = new pg.Client({ connectionString: stack.businessDatabaseUrl });
    mailerDb = new pg.Client({ connectionString: stack.mailerDatabaseUrl });
    await Promise.all([businessDb.connect(), mailerDb.connect()]);
    const { rows } = await businessDb.query<{ name: string; qualified: string }>(
      `SELECT table_name AS name, format('%I.%I', table_schema, table_name) AS qualified FROM information_schema.tables
        WHERE table_name = ANY($1) AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
      [['emails', 'outbox', 'email_templates', 'webhook_endpoints']],
    );
    businessTables = Object.fromEntries(rows.map((r) => [r.name, r.qualified])) as typeof businessTables;
    expect(Object.keys(businessTables).sort()).toEqual(['email_templates', 'emails', 'outbox', 'webhook_endpoints']);

    for (const template of FIXED_TEMPLATES) {
      const res = await call('business', 'POST', '/v1/templates', { body: JSON.stringify(template) });
      expect(res.status, res.text).toBe(201);
    }
    const sent = await call('business', 'POST', '/v1/emails', { body: JSON.stringify({ to: 'known@example.test', subject: 'Known', text: 'x' }) });
    expect(sent.status, sent.text).toBe(202);
    knownEmailId = (sent.json as { id: string }).id;
    const hook = await call('business', 'POST', '/v1/webhooks', { body: JSON.stringify({ url: 'http://127.0.0.1:9/known', events: ['email.canceled'] }) });
    expect(hook.status, hook.text).toBe(201);
    knownWebhookId = (hook.json as { id: string }).id;

    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    deadLetterReader = kafka.consumer({ groupId: `${stack.id}-fuzz-dlq-reader` });
    await deadLetterReader.connect();
    await deadLetterReader.subscribe({ topics: KAFKA_TOPICS.map((t) => deadLetterTopic(`${stack.topicPrefix}${t}`)), fromBeginning: true });
    await deadLetterReader.run({
      eachMessage: async ({ topic, message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        const id = headers[FUZZ_ID_HEADER];
        if (id !== undefined) deadLetters.set(id, { topic, headers });
      },
    });
    await waitFor(async () => ((await call('business', 'GET', `/v1/emails/${knownEmailId}`)).json as { status?: string })?.status === 'sent' || undefined, {
      timeoutMs: 60_000,
      description: 'the known email to be sent',
    });
  });

  afterAll(async () => {
    const properties = Object.entries(summary.properties);
    const cases = properties.reduce((n, [, p]) => n + p.cases, 0);
    const failed = properties.filter(([, p]) => !p.passed).map(([name]) => name);
    mkdirSync('test-output', { recursive: true });
    writeFileSync('test-output/fuzz-summary.json', `${JSON.stringify({ ...summary, cases, failed }, null, 2)}\n`);
    console.log(
      `fuzz: ${cases.toLocaleString('en')} cases, seed ${SEED}; ` +
        properties.map(([name, p]) => `${name}: ${p.cases}${p.passed ? '' : ' FAILED'}`).join('; '),
    );
    await deadLetterReader?.disconnect();
    await producer?.disconnect();
    await Promise.all([businessDb?.end(), mailerDb?.end()]);
    await stack.stop();
  });

  /**
   * Runs a property under the suite's seed and records how many cases it ran; a failure keeps
   * fast-check's report (seed, path, shrunk counterexample) and is re-thrown.
   */
  async function check<T>(name: string, arbitrary: fc.Arbitrary<T>, predicate: (value: T) => Promise<void | number>, options: { runs?: number; endOnFailure?: boolean } = {}): Promise<void> {
    const record: (typeof summary.properties)[string] = { cases: 0, runs: options.runs ?? RUNS, passed: false, statuses: {} };
    summary.properties[name] = record;
    current = record;
    try {
      await fc.assert(
        fc.asyncProperty(arbitrary, async (value) => {
          // A Kafka round is several cases: it says how many messages it published.
          record.cases += (await predicate(value)) ?? 1;
          // A case that killed a process fails here, with the case that did it.
          expect(stack.business?.running, 'the business process is alive').toBe(true);
          expect(stack.mailer?.running, 'the mailer process is alive').toBe(true);
        }),
        { seed: SEED, numRuns: record.runs, ...(PATH !== undefined && { path: PATH }), ...(options.endOnFailure && { endOnFailure: true }) },
      );
      record.passed = true;
    } catch (error) {
      record.failure = (error instanceof Error ? error.message : String(error)).slice(0, 4_000);
      throw error;
    }
    // After a failure the report above is what matters; a blocked app would only add a timeout.
    await expectHealthy();
  }

  async function expectHealthy(): Promise<void> {
    for (const app of ['business', 'mailer'] as const) {
      const res = await call(app, 'GET', '/health', { contentType: null, auth: false, timeoutMs: 30_000 });
      expect(res.status, `${app} /health after the property: ${res.text.slice(0, 300)}`).toBe(200);
    }
  }

  async function businessCounts(): Promise<Record<string, number>> {
    const t = businessTables;
    const { rows } = await businessDb.query<Record<string, number>>(
      `SELECT (SELECT count(*)::int FROM ${t.emails}) AS emails, (SELECT count(*)::int FROM ${t.outbox}) AS outbox,
              (SELECT count(*)::int FROM ${t.email_templates}) AS templates, (SELECT count(*)::int FROM ${t.webhook_endpoints}) AS webhook_endpoints`,
    );
    return rows[0]!;
  }

  async function suppressionCount(): Promise<number> {
    const { rows } = await mailerDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM suppressions`);
    return rows[0]!.n;
  }

  // -------------------------------------------------------------------------------------------
  // HTTP
  // -------------------------------------------------------------------------------------------

  it('POST /v1/emails: any body is a clean 4xx with nothing written, or a valid 202 that reads back', async () => {
    const literal = { to: 'fuzz@example.test', subject: 'Fuzz', text: 'x' };
    const templated = { to: 'fuzz@example.test', template: 'fuzz-hello', data: { name: 'x' } };
    const body = fc.oneof(
      { arbitrary: fc.tuple(fc.constantFrom<Record<string, unknown>>(literal, templated), fc.array(mutation(EMAIL_FIELDS), { minLength: 1, maxLength: 3 })).map(([base, ms]) => mutatedJson(base, ms)), weight: 5 },
      { arbitrary: fc.tuple(fc.constant(literal), fc.array(hostileText(['subject', 'text', 'html', 'from', 'replyTo', 'to']), { minLength: 1, maxLength: 2 })).map(([base, ms]) => mutatedJson(base, ms)), weight: 3 },
      { arbitrary: fc.tuple(fc.constant(literal), fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), adversarialString, { minKeys: 1, maxKeys: 3 })).map(([base, metadata]) => mutatedJson(base, [{ kind: 'set', field: 'metadata', value: metadata }])), weight: 1 },
      { arbitrary: fc.tuple(fc.constant(templated), templateData).map(([base, data]) => mutatedJson(base, [{ kind: 'set', field: 'data', value: data }])), weight: 2 },
      { arbitrary: garbageBody, weight: 2 },
    );
    await check('POST /v1/emails body', body, async (text) => {
      const before = await businessCounts();
      const res = await call('business', 'POST', '/v1/emails', { body: text });
      await expectCleanAnswer(res, before, { what: 'POST /v1/emails', sent: text, onSuccess: async () => {
        expect(res.status).toBe(202);
        const parsed = parseAsServer(text);
        expect(emailRequestSchema.safeParse(parsed).success, 'a 202 for a body the contract schema refuses').toBe(true);
        expect(holdsUnstorableText(parsed), 'a 202 for a body with NUL or a lone surrogate').toBe(false);
        const id = (res.json as { id?: unknown }).id;
        expect(id).toMatch(UUID);
        const read = await call('business', 'GET', `/v1/emails/${String(id)}`, { contentType: null });
        expect(read.status, read.text).toBe(200);
      } });
    });
  });

  it('POST /v1/emails: fuzzed headers (Idempotency-Key with CRLF/NUL/non-ASCII, junk names, content types) never 5xx', async () => {
    const header = fc.oneof(
      { arbitrary: fc.tuple(fc.constant('Idempotency-Key'), adversarialHeaderValue), weight: 4 },
      { arbitrary: fc.tuple(fc.constantFrom('Content-Type', 'content-type'), fc.oneof(adversarialHeaderValue, fc.constantFrom('text/plain', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=\u0000'))), weight: 2 },
      { arbitrary: fc.tuple(fc.oneof(adversarialString, fc.constantFrom(...POLLUTING_KEYS, 'X-Forwarded-For', 'Host', 'Transfer-Encoding', 'Content-Length', 'Expect', 'Content-Encoding')), adversarialHeaderValue), weight: 3 },
    );
    await check('POST /v1/emails headers', fc.array(header, { minLength: 1, maxLength: 4 }), async (headers) => {
      const before = await businessCounts();
      const text = JSON.stringify({ to: 'headers@example.test', subject: 'Headers', text: 'x' });
      const res = await call('business', 'POST', '/v1/emails', { body: text, contentType: null, headers: [['content-type', 'application/json'], ...headers] });
      await expectCleanAnswer(res, before, { what: 'POST /v1/emails with fuzzed headers', sent: text, onSuccess: async () => {
        expect(res.status).toBe(202);
        for (const [name, value] of headers) {
          if (name.toLowerCase() !== 'idempotency-key') continue;
          const key = Buffer.isBuffer(value) ? value.toString('latin1') : value;
          // A key that reached the app whole must be what the API documents: printable ASCII, 1–255.
          if (!/[\r\n\0]/.test(key)) expect(key.trim(), 'an accepted Idempotency-Key').toMatch(/^[\x21-\x7e]{1,255}$/);
        }
      } });
    });
  });

  it('POST /v1/templates/:name/preview: hostile data and names never 5xx, never execute code, never write', async () => {
    const name = fc.oneof({ arbitrary: fc.constantFrom('fuzz-hello', 'fuzz-inject', 'nope'), weight: 4 }, { arbitrary: adversarialString, weight: 1 });
    const body = fc.oneof(
      { arbitrary: fc.record({ data: templateData }, { requiredKeys: [] }).map((b) => JSON.stringify(b)), weight: 5 },
      { arbitrary: fc.tuple(fc.constantFrom<Record<string, unknown>>({ data: { name: 'x' } }), fc.array(mutation(['data', 'version']), { minLength: 1, maxLength: 2 })).map(([b, ms]) => mutatedJson(b, ms)), weight: 3 },
      { arbitrary: garbageBody, weight: 1 },
    );
    await check('POST /v1/templates/:name/preview', fc.tuple(name, body), async ([template, text]) => {
      const before = await businessCounts();
      const res = await call('business', 'POST', `/v1/templates/${encodePathSegment(template)}/preview`, { body: text });
      await expectCleanAnswer(res, before, { what: 'preview', sent: text, onSuccess: async () => {
        expect(res.status).toBe(200);
        expect(res.text, 'a template executed code').not.toContain(PWNED);
        expect(holdsUnstorableText(parseAsServer(text)), 'a 200 for data with NUL or a lone surrogate').toBe(false);
      } });
      // Previews write nothing, whatever they answer.
      expect(await businessCounts()).toEqual(before);
    });
  });

  it('POST and PATCH /v1/webhooks: hostile endpoints and changes are refused cleanly or valid', async () => {
    const base = { url: 'http://127.0.0.1:9/fuzz', events: ['email.canceled'], description: 'fuzz' };
    const id = fc.oneof({ arbitrary: fc.constant('known'), weight: 3 }, { arbitrary: fc.uuid(), weight: 1 }, { arbitrary: adversarialString, weight: 1 });
    const change = fc.oneof(
      { arbitrary: fc.array(mutation([...Object.keys(base), 'enabled']), { minLength: 1, maxLength: 3 }).map((ms) => mutatedJson(base, ms)), weight: 5 },
      { arbitrary: fc.array(hostileText(['description', 'url']), { minLength: 1, maxLength: 2 }).map((ms) => mutatedJson(base, ms)), weight: 3 },
      { arbitrary: garbageBody, weight: 2 },
    );
    await check('POST/PATCH /v1/webhooks', fc.tuple(fc.constantFrom('POST', 'PATCH'), id, change), async ([method, target, text]) => {
      const before = await businessCounts();
      const path = method === 'POST' ? '/v1/webhooks' : `/v1/webhooks/${encodePathSegment(target === 'known' ? knownWebhookId : target)}`;
      const res = await call('business', method, path, { body: text });
      await expectCleanAnswer(res, before, { what: `${method} ${path}`, sent: text, onSuccess: async () => {
        expect(res.status).toBe(method === 'POST' ? 201 : 200);
        expect(holdsUnstorableText(parseAsServer(text)), 'a success for a body with NUL or a lone surrogate').toBe(false);
      } });
      if (method === 'PATCH') expect((await businessCounts()).webhook_endpoints).toBe(before.webhook_endpoints);
    });
  });

  it('DELETE /v1/emails/:id: hostile ids never 5xx and a refused cancel writes nothing', async () => {
    const id = fc.oneof(
      { arbitrary: fc.constant({ kind: 'known' as const }), weight: 1 },
      { arbitrary: fc.uuid().map((value) => ({ kind: 'encoded' as const, value })), weight: 2 },
      { arbitrary: fc.oneof(adversarialString, overlongString.map((s) => s.slice(0, 9_000))).map((value) => ({ kind: 'encoded' as const, value })), weight: 3 },
      { arbitrary: adversarialString.map((value) => ({ kind: 'raw' as const, value })), weight: 2 },
    );
    await check('DELETE /v1/emails/:id', id, async (target) => {
      const before = await businessCounts();
      const segment = target.kind === 'known' ? knownEmailId : target.kind === 'encoded' ? encodePathSegment(target.value) : target.value;
      const res = await call('business', 'DELETE', `/v1/emails/${segment}`, { contentType: null });
      await expectCleanAnswer(res, before, { what: 'DELETE /v1/emails/:id', sent: segment, onSuccess: async () => {
        expect(res.status).toBe(202);
      } });
    });
  });

  it('mailer POST /v1/suppressions and POST /v1/unconfirmed/:id/reconcile: hostile bodies and ids never 5xx, refusals write nothing', async () => {
    const suppression = fc.tuple(fc.constant('suppressions' as const), fc.oneof({ arbitrary: fc.array(mutation(['address', 'category', 'reason']), { minLength: 1, maxLength: 3 }), weight: 5 }, { arbitrary: fc.array(hostileText(['address', 'category']), { minLength: 1, maxLength: 2 }), weight: 3 }, { arbitrary: garbageBody.map((g) => ({ garbage: g })), weight: 2 }));
    const reconcile = fc.tuple(
      fc.constant('reconcile' as const),
      fc.record({ id: fc.oneof(fc.uuid(), adversarialString), body: fc.oneof(fc.array(mutation(['outcome', 'note']), { maxLength: 3 }).map((ms) => mutatedJson({ outcome: 'delivered', note: 'n' }, ms)), garbageBody) }),
    );
    let n = 0;
    await check('mailer suppressions/reconcile', fc.oneof(suppression, reconcile), async (input) => {
      const before = await suppressionCount();
      if (input[0] === 'suppressions') {
        const m = input[1];
        const text = 'garbage' in m ? m.garbage : mutatedJson({ address: `s${n++}@example.test`, category: 'news', reason: 'manual' }, m);
        const res = await call('mailer', 'POST', '/v1/suppressions', { body: text });
        expectShape(res, 'POST /v1/suppressions', text);
        if (res.status >= 400) expect(await suppressionCount(), `a refused suppression left a row: ${shown(text)}`).toBe(before);
        else {
          expect([200, 201]).toContain(res.status);
          expect(holdsUnstorableText(parseAsServer(text)), 'a success for a body with NUL or a lone surrogate').toBe(false);
        }
      } else {
        const { id, body } = input[1];
        const res = await call('mailer', 'POST', `/v1/unconfirmed/${encodePathSegment(id)}/reconcile`, { body });
        expectShape(res, 'POST /v1/unconfirmed/:id/reconcile', body);
        // Nothing is unconfirmed in this stack: every reconcile is refused.
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(await suppressionCount()).toBe(before);
      }
    });
  });

  it('raw requests with arbitrary header names and values (CRLF, NUL, obs-fold, huge) to routes of both apps never 5xx', async () => {
    const route = fc.constantFrom<[AppName, string, string]>(
      ['business', 'POST', '/v1/emails'],
      ['business', 'GET', '/v1/emails/00000000-0000-4000-8000-000000000000'],
      ['business', 'POST', '/v1/templates/fuzz-hello/preview'],
      ['business', 'GET', '/v1/webhooks'],
      ['mailer', 'POST', '/v1/suppressions'],
      ['mailer', 'GET', '/v1/suppressions'],
      ['business', 'GET', '/health'],
    );
    const name = fc.oneof(fc.constantFrom('X-Test', 'Idempotency-Key', 'Content-Length', 'Transfer-Encoding', 'Content-Type', 'Accept', 'Cookie', 'X-Test\r\n Folded', '\u0000', ' Leading', 'Trailing ', ''), adversarialString);
    await check('raw headers', fc.tuple(route, fc.array(fc.tuple(name, adversarialHeaderValue), { minLength: 1, maxLength: 5 })), async ([[app, method, path], headers]) => {
      const before = await businessCounts();
      const suppressionsBefore = await suppressionCount();
      const text = JSON.stringify({ address: 'raw-headers@example.test', to: 'raw@example.test', subject: 'Raw', text: 'x', data: { name: 'x' } });
      const res = await call(app, method, path, { body: text, headers });
      await expectCleanAnswer(res, before, { what: `${method} ${path} with raw headers`, sent: text, onSuccess: async () => {
        expect(res.status).toBeLessThan(300);
      } });
      if (res.status >= 400) expect(await suppressionCount()).toBe(suppressionsBefore);
    });
  });

  it('a garbage Authorization header never yields a 5xx on any route', async () => {
    const route = fc.constantFrom<[AppName, string, string, string | undefined]>(
      ['business', 'POST', '/v1/emails', JSON.stringify({ to: 'auth@example.test', subject: 'Auth', text: 'x' })],
      ['business', 'GET', '/v1/templates', undefined],
      ['business', 'POST', '/v1/webhooks', JSON.stringify({ url: 'http://127.0.0.1:9/auth', events: ['email.canceled'] })],
      ['business', 'DELETE', '/v1/emails/00000000-0000-4000-8000-000000000000', undefined],
      ['mailer', 'POST', '/v1/suppressions', JSON.stringify({ address: 'auth@example.test' })],
      ['mailer', 'GET', '/v1/unconfirmed', undefined],
    );
    await check('garbage Authorization', fc.tuple(route, adversarialAuthorization), async ([[app, method, path, body], authorization]) => {
      const res = await call(app, method, path, { auth: false, headers: [['authorization', authorization]], ...(body !== undefined && { body }) });
      expect(res.status, `${method} ${path} with Authorization ${shown(authorization)}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
      if (refusedByHttpParser(res)) return;
      expectShape(res, `${method} ${path}`, String(authorization));
      if (AUTH_REQUIRED) expect(res.status, 'a garbage key').toBe(401);
    });
  });

  // -------------------------------------------------------------------------------------------
  // Kafka
  // -------------------------------------------------------------------------------------------

  for (const topic of KAFKA_TOPICS) {
    it(`Kafka ${topic}: every fuzzed message is dead-lettered with a reason or applied, and a valid one after them is processed`, { timeout: 900_000 }, async () => {
      const spec = kafkaSpecs[topic];
      const fullTopic = `${stack.topicPrefix}${topic}`;
      let round = 0;
      await check(
        `Kafka ${topic}`,
        fc.array(fuzzMessage(spec, () => knownEmailId), { minLength: 1, maxLength: 6 }),
        async (messages) => {
          const tag = `${topic}-${round++}`;
          const published: Array<{ id: string; message: FuzzMessage }> = [];
          for (const [i, message] of messages.entries()) {
            const id = `${tag}-${i}`;
            try {
              await producer.send({ topic: fullTopic, acks: -1, messages: [{ partition: 0, key: message.key, value: message.value, headers: { ...message.headers, [FUZZ_ID_HEADER]: id } }] });
              published.push({ id, message });
            } catch (error) {
              // The broker's own limit (message.max.bytes) refused it: not a message the apps can see.
              if ((error as { type?: string }).type !== 'MESSAGE_TOO_LARGE') throw error;
            }
          }
          const canary = spec.canary(knownEmailId);
          await producer.send({ topic: fullTopic, acks: -1, messages: [{ partition: 0, key: canary.key, value: JSON.stringify(canary.value) }] });
          const unsettled = async (): Promise<string[]> => {
            const open: string[] = [];
            for (const { id, message } of published) {
              const letter = deadLetters.get(id);
              if (letter) continue;
              const valid = spec.validate(message.value);
              if (!valid.success || !(await spec.applied(valid.data, { business: businessDb, mailer: mailerDb }))) open.push(id);
            }
            return open;
          };
          try {
            await waitFor(async () => (await spec.applied(canary.value, { business: businessDb, mailer: mailerDb })) || undefined, { timeoutMs: 60_000, intervalMs: 100, description: `the valid message after ${published.length} fuzzed ones on ${topic}` });
          } catch (error) {
            throw new Error(`stuck partition: ${(error as Error).message}; still unsettled: ${describeMessages(published, await unsettled())}`, { cause: error });
          }
          // Behind the canary, so each is done with; the dead-letter reader may lag a little.
          const open = await waitFor(async () => {
            const ids = await unsettled();
            return ids.length === 0 ? ids : undefined;
          }, { timeoutMs: 15_000, intervalMs: 100, description: 'every fuzzed message dead-lettered or applied' }).catch(async () => unsettled());
          expect(open, `neither dead-lettered nor applied: ${describeMessages(published, open)}`).toEqual([]);
          for (const { id } of published) {
            const letter = deadLetters.get(id);
            if (!letter) continue;
            expect(letter.headers[DeadLetterHeaders.reason], `dead letter ${id} has a reason`).toMatch(/\S/);
            expect(letter.headers[DeadLetterHeaders.sourceTopic]).toBe(fullTopic);
          }
          return published.length;
        },
        // A stuck partition stays stuck: shrinking would only wait out the same timeout again.
        { runs: KAFKA_RUNS, endOnFailure: true },
      );
    });
  }

  // -------------------------------------------------------------------------------------------
  // Template compiles and render bombs: last, and stopping at the first failure, because today
  // a deeply nested template can hold the business event loop for minutes (a hang does not
  // shrink: every smaller case would wait out the same blocked loop).
  // -------------------------------------------------------------------------------------------

  it('POST /v1/templates: hostile templates are refused cleanly or stored, and a stored one previews without executing anything', async () => {
    const base = { subject: 'Hi {{name}}', html: '<p>{{name}}</p>', text: '{{name}}', variables: [{ name: 'name', required: false }, { name: 'items', required: false }] };
    const setContent: fc.Arbitrary<Mutation> = fc.record({ kind: fc.constant('set' as const), field: fc.constantFrom('subject', 'html', 'text'), value: templateInjection });
    const body = fc.oneof(
      { arbitrary: fc.array(fc.oneof({ arbitrary: setContent, weight: 3 }, { arbitrary: mutation(TEMPLATE_FIELDS), weight: 1 }), { minLength: 1, maxLength: 3 }), weight: 9 },
      { arbitrary: garbageBody.map((g) => ({ garbage: g })), weight: 1 },
    );
    let n = 0;
    await check('POST /v1/templates', body, async (mutations) => {
      const name = `fz-${n++}`;
      const text = 'garbage' in mutations ? mutations.garbage : mutatedJson({ name, ...base }, mutations);
      const before = await businessCounts();
      const res = await call('business', 'POST', '/v1/templates', { body: text, timeoutMs: 30_000 });
      await expectCleanAnswer(res, before, { what: 'POST /v1/templates', sent: text, onSuccess: async () => {
        expect(res.status).toBe(201);
        const created = res.json as { name: string; version: number };
        const preview = await call('business', 'POST', `/v1/templates/${encodePathSegment(created.name)}/preview`, { body: JSON.stringify({ data: { name: 'Ada', items: [1, 2, 3] } }) });
        await expectCleanAnswer(preview, await businessCounts(), { what: 'preview of the created template', sent: '', onSuccess: async () => {
          expect(preview.status).toBe(200);
          expect(preview.text, 'a template executed code').not.toContain(PWNED);
        } });
      } });
    }, { endOnFailure: true });
  });


  it('render bombs ({{#each}} nesting over large data) answer in bounded time, 200 or a clean 4xx', async () => {
    const data = fc.oneof(
      fc.constantFrom(5, 30, 120, 400).map((n) => ({ items: Array.from({ length: n }, (_, i) => `item-${i}`) })),
      fc.constantFrom(1_000, 100_000).map((n) => ({ items: Array.from({ length: n }, () => 'x'.repeat(50)) })),
    );
    await check('render bombs', data, async (d) => {
      const before = await businessCounts();
      const text = JSON.stringify({ data: d });
      const res = await call('business', 'POST', '/v1/templates/fuzz-each/preview', { body: text, timeoutMs: 30_000 });
      await expectCleanAnswer(res, before, { what: 'preview of the each bomb', sent: `items × ${d.items.length}`, onSuccess: async () => {
        expect(res.status).toBe(200);
      } });
    }, { runs: Math.min(RUNS, 12), endOnFailure: true });
  });

  /**
   * The oracle of the HTTP properties: no 5xx; a refusal is our error shape and leaves every row
   * as it was; a success passes `onSuccess`. Node's HTTP server may refuse the request itself
   * before the app sees it (see {@link refusedByHttpParser}): clean, but not in our shape.
   */
  async function expectCleanAnswer(res: RawResponse, before: Record<string, number>, options: { what: string; sent: string | Buffer; onSuccess: () => Promise<void> }): Promise<void> {
    const context = `${options.what} → ${res.status} ${res.text.slice(0, 400)}\n  sent: ${shown(options.sent)}`;
    expect(res.status, context).toBeLessThan(500);
    if (res.status >= 400) {
      if (refusedByHttpParser(res)) return;
      expectShape(res, options.what, options.sent);
      expect(await businessCounts(), `a refused request wrote rows: ${context}`).toEqual(before);
      return;
    }
    expect(res.status, context).toBeGreaterThanOrEqual(200);
    try {
      await options.onSuccess();
    } catch (error) {
      throw new Error(`${context}\n  ${(error as Error).message}`, { cause: error });
    }
  }
});

// -----------------------------------------------------------------------------------------------
// Fixtures and helpers
// -----------------------------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FUZZ_ID_HEADER = 'x-fuzz-id';

const EMAIL_FIELDS = ['to', 'cc', 'bcc', 'replyTo', 'from', 'subject', 'text', 'html', 'lane', 'metadata', 'expiresAt', 'sendAt', 'category', 'tags', 'template', 'version', 'data', 'attachments', 'headers'];
const TEMPLATE_FIELDS = ['name', 'engine', 'subject', 'html', 'text', 'variables', 'ttlSeconds'];

/** Templates the properties preview: a plain one, one that tries prototype access, and an `{{#each}}` bomb. */
const FIXED_TEMPLATES = [
  { name: 'fuzz-hello', subject: 'Hello {{name}}', html: '<p>Hello {{name}}</p>{{#each items}}<i>{{this}}</i>{{/each}}', variables: [{ name: 'name', required: false }, { name: 'items', required: false }] },
  {
    name: 'fuzz-inject',
    subject: 'Inject',
    html: '{{constructor.constructor}}{{#with (lookup this "constructor") as |c|}}{{c.name}}{{/with}}{{name.constructor}}{{#each this}}{{@key}}={{this}};{{/each}}',
    variables: [{ name: 'name', required: false }],
  },
  {
    name: 'fuzz-each',
    subject: 'Each',
    html: '{{#each items}}{{#each ../items}}{{#each ../../items}}{{#each ../../../items}}<b>{{this}}</b>{{/each}}{{/each}}{{/each}}{{/each}}',
    variables: [{ name: 'items', required: false }],
  },
];

/** Mutations that keep a field a string but make it hostile (CRLF, NUL, surrogates, RTL, …): valid-looking input. */
function hostileText(fields: readonly string[]): fc.Arbitrary<Mutation> {
  return fc.record({ kind: fc.constant('set' as const), field: fc.constantFrom(...fields), value: fc.oneof(adversarialString, fc.tuple(fc.constantFrom('', 'Name '), adversarialString, fc.constantFrom('', '@example.test', ' <a@example.test>')).map((parts) => parts.join(''))) });
}

/** The body as the server's JSON parser saw it (`undefined` when it is not JSON). */
function parseAsServer(text: string | Buffer): unknown {
  try {
    return JSON.parse(Buffer.isBuffer(text) ? text.toString('utf8') : text);
  } catch {
    return undefined;
  }
}

/** Percent-encodes every UTF-8 byte that is not unreserved; unlike `encodeURIComponent`, never throws (lone surrogates). */
function encodePathSegment(value: string): string {
  return [...Buffer.from(value, 'utf8')].map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** A short, printable description of what was sent (a counterexample can be a megabyte). */
function shown(value: string | Buffer): string {
  const text = Buffer.isBuffer(value) ? `<${value.length} bytes> ${value.subarray(0, 200).toString('latin1')}` : value;
  const shown = JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}…(${text.length} chars)` : text);
  return shown;
}

/**
 * Node's HTTP server answers some requests itself, before any app code runs, with an empty body:
 * 400 (malformed: CR, LF or NUL in a header, a bad request line), 413, 414, 417 (an `Expect` other
 * than 100-continue) and 431 (headers over `--max-http-header-size`). Clean refusals, nothing written.
 */
function refusedByHttpParser(res: RawResponse): boolean {
  return res.text === '' && [400, 413, 414, 417, 431].includes(res.status);
}

function expectShape(res: RawResponse, what: string, sent: string | Buffer): void {
  if (res.status < 400) return;
  const context = `${what} → ${res.status} ${res.text.slice(0, 400)}\n  sent: ${shown(sent)}`;
  expect(res.json, `not our error shape: ${context}`).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
}

// -----------------------------------------------------------------------------------------------
// Kafka fuzzing
// -----------------------------------------------------------------------------------------------

const KAFKA_TOPICS = [Topics.requests.transactional, Topics.requests.bulk, Topics.events, Topics.suppressions] as const;
type KafkaTopic = (typeof KAFKA_TOPICS)[number];

interface FuzzMessage {
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers: Record<string, string | Buffer>;
}

interface Databases {
  business: pg.Client;
  mailer: pg.Client;
}

interface KafkaTopicSpec {
  /** A valid payload to break: its fields are mutated. */
  base: fc.Arbitrary<Record<string, unknown>>;
  /** The contract schema: a payload it accepts must be applied, or dead-lettered for a reason the database gave. */
  validate: (value: FuzzMessage['value']) => { success: true; data: any } | { success: false };
  /** Whether the app applied a (valid) payload. */
  applied: (payload: any, db: Databases) => Promise<boolean>;
  /** A valid payload whose effect the test can see: published after each round's fuzzed messages. */
  canary: (knownEmailId: string) => { key: string; value: Record<string, unknown> };
}

const AT = '2026-05-01T10:00:00.000Z';

function validator(schema: z.ZodType): KafkaTopicSpec['validate'] {
  return (value) => {
    const parsed = value === null ? undefined : parseAsServer(value);
    if (parsed === undefined) return { success: false };
    const result = schema.safeParse(parsed);
    return result.success ? { success: true, data: result.data } : { success: false };
  };
}

async function exists(db: pg.Client, sql: string, param: string): Promise<boolean> {
  try {
    return (await db.query(sql, [param])).rowCount! > 0;
  } catch {
    return false; // e.g. a value the column type refuses: not applied
  }
}

function requestsSpec(lane: 'transactional' | 'bulk'): KafkaTopicSpec {
  return {
    base: fc.record({
      version: fc.constant(1),
      type: fc.constant('email.requested'),
      emailId: fc.uuid({ version: 4 }),
      requestedAt: fc.constant(AT),
      lane: fc.constant(lane),
      to: fc.constant(['kafka-fuzz@example.test']),
      subject: fc.constant('Fuzz'),
      text: fc.constant('x'),
    }).map((r) => r as Record<string, unknown>),
    validate: validator(mailRequestsTopicMessageSchema),
    applied: async (p, { mailer }) => p.type !== 'email.requested' || exists(mailer, `SELECT 1 FROM mail_requests WHERE email_id = $1`, p.emailId),
    canary: () => {
      const emailId = randomUUID();
      return { key: emailId, value: { version: 1, type: 'email.requested', emailId, requestedAt: new Date().toISOString(), lane, to: ['canary@example.test'], subject: 'Canary', text: 'x' } };
    },
  };
}

const kafkaSpecs: Record<KafkaTopic, KafkaTopicSpec> = {
  [Topics.requests.transactional]: requestsSpec('transactional'),
  [Topics.requests.bulk]: requestsSpec('bulk'),
  [Topics.events]: {
    base: fc.record({
      version: fc.constant(1),
      eventId: fc.uuid({ version: 4 }),
      type: fc.constantFrom('email.sent', 'email.retrying', 'email.failed'),
      emailId: fc.constantFrom('known', '00000000-0000-4000-8000-000000000000'),
      occurredAt: fc.constant(AT),
      detail: fc.oneof(fc.constant({}), fc.dictionary(fc.constantFrom('attempt', 'messageId', 'smtpResponse', 'smtpCode', 'reason', 'rejectedRecipients', 'code', 'sendAt'), adversarialValue, { maxKeys: 3 })),
    }).map((r) => r as Record<string, unknown>),
    validate: validator(emailEventMessageSchema),
    applied: (p, { business }) => exists(business, `SELECT 1 FROM email_loop.email_events WHERE event_id = $1`, p.eventId),
    canary: (knownEmailId) => {
      const eventId = randomUUID();
      return { key: knownEmailId, value: { version: 1, eventId, type: 'email.sent', emailId: knownEmailId, occurredAt: new Date().toISOString(), detail: {} } };
    },
  },
  [Topics.suppressions]: {
    base: fc.record({
      version: fc.constant(1),
      eventId: fc.uuid({ version: 4 }),
      type: fc.constantFrom('suppression.added', 'suppression.removed'),
      address: fc.nat().map((n) => `kafka-${n}@example.test`),
      reason: fc.constant('manual'),
      occurredAt: fc.constant(AT),
    }).map((r) => r as Record<string, unknown>),
    validate: validator(suppressionChangedMessageSchema),
    applied: async (p, { mailer }) => p.type !== 'suppression.added' || exists(mailer, `SELECT 1 FROM suppressions WHERE address = $1`, p.address),
    canary: () => {
      const address = `canary-${randomUUID()}@example.test`;
      return { key: address, value: { version: 1, eventId: randomUUID(), type: 'suppression.added', address, reason: 'manual', occurredAt: new Date().toISOString() } };
    },
  },
};

/** One fuzzed Kafka message: a mutated valid payload (most), random bytes, other JSON, deep or huge values, a tombstone; junk keys and headers. */
function fuzzMessage(spec: KafkaTopicSpec, knownEmailId: () => string): fc.Arbitrary<FuzzMessage> {
  const mutated = fc.tuple(spec.base, fc.array(mutation([...EMAIL_FIELDS, 'version', 'type', 'emailId', 'eventId', 'requestedAt', 'occurredAt', 'detail', 'address', 'reason', 'unsubscribeUrl', 'lane']), { maxLength: 3 })).map(([base, ms]) => {
    // The events topic's `known` is the email created at start (a lazy value: it exists only then).
    const resolved = base.emailId === 'known' ? { ...base, emailId: knownEmailId() } : base;
    return mutatedJson(resolved, ms);
  });
  const huge = fc.tuple(spec.base, fc.constantFrom(300_000, 1_000_000, 1_040_000), fc.constantFrom('subject', 'text', 'html', 'emailId')).map(([base, size, field]) => mutatedJson(base, [{ kind: 'set', field, value: 'y'.repeat(size) }]));
  const value = fc.oneof(
    { arbitrary: mutated, weight: 10 },
    { arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), weight: 1 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'), weight: 1 },
    { arbitrary: deepJsonText, weight: 1 },
    { arbitrary: huge, weight: 1 },
    { arbitrary: fc.constantFrom<string | null>(null, '', '{}', 'null', '{"version":1}', `{"__proto__":{"version":1}}`, ...NASTY_PIECES.slice(0, 3)), weight: 1 },
  );
  const key = fc.oneof({ arbitrary: fc.constant('fuzz'), weight: 4 }, fc.constant(null), adversarialString, fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)));
  const headerName = fc.oneof(adversarialString, fc.constantFrom(...Object.values(DeadLetterHeaders), ...POLLUTING_KEYS)).filter((n) => n !== FUZZ_ID_HEADER);
  const headers = fc.dictionary(headerName, adversarialHeaderValue, { maxKeys: 3 });
  return fc.record({ key, value, headers });
}

function describeMessages(published: ReadonlyArray<{ id: string; message: FuzzMessage }>, ids: readonly string[]): string {
  return ids
    .map((id) => {
      const m = published.find((p) => p.id === id)?.message;
      return m ? `${id}: value ${m.value === null ? 'null' : shown(m.value)}, headers ${Object.keys(m.headers).map((h) => JSON.stringify(h)).join(' ')}` : id;
    })
    .join('\n  ');
}
