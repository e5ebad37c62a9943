import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { PARKED_CODE, ReplayHeaders, Topics, deadLetterTopic } from '@app/contracts';
import { waitFor } from '@app/testing';
import { EmailLoopStack, KAFKA_BROKERS } from './stack.js';

const run = promisify(execFile);

/**
 * Dead letters through the built apps: a rolling upgrade where a newer mailer (version N+1) adds a
 * field and an event type while business runs version N (nothing lost: the field is ignored, the
 * type parked and replayable through the operator API and the CLI, each replay recorded), and a
 * dead-letter write that keeps failing (readiness 503, the count in /health, drained once fixed).
 *
 * The built business app cannot be "upgraded" inside this test: that a replayed parked message is
 * applied by a consumer whose contract knows its type is shown in libs/kafka/src/dead-letters.int.spec.ts.
 */
describe('dead letters, end to end', () => {
  const stack = new EmailLoopStack();
  const kafka = new Kafka({ clientId: 'e2e-dead-letters', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });

  beforeAll(async () => {
    await stack.start();
  });
  afterAll(async () => {
    await stack.stop();
  });

  async function api(app: 'business' | 'mailer', method: 'GET' | 'POST', path: string): Promise<{ status: number; body: any }> {
    const base = app === 'business' ? stack.businessUrl : stack.mailerUrl;
    const res = await fetch(`${base}${path}`, { method, headers: stack.authHeaders(app) });
    return { status: res.status, body: await res.json() };
  }
  async function publish(topic: string, messages: { key: string; value: string; partition?: number }[]): Promise<void> {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: `${stack.topicPrefix}${topic}`, messages });
    await producer.disconnect();
  }
  async function setMaxMessageBytes(topic: string, bytes: number): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: `${stack.topicPrefix}${topic}`, configEntries: [{ name: 'max.message.bytes', value: String(bytes) }] }],
      });
    } finally {
      await admin.disconnect();
    }
  }
  async function cli(...args: string[]): Promise<unknown> {
    const { stdout } = await run('node', ['dist/libs/dead-letters/src/dead-letters.cli.js', ...args, '--app', 'business', '--json'], {
      env: {
        PATH: process.env.PATH ?? '',
        BUSINESS_DATABASE_URL: stack.businessDatabaseUrl,
        KAFKA_BROKERS: stack.kafkaBrokers,
        KAFKA_TOPIC_PREFIX: stack.topicPrefix,
        EMAIL_SCHEMA: 'email_loop',
      },
    });
    return JSON.parse(stdout);
  }
  const parkedOnEvents = async (): Promise<any[]> => (await api('business', 'GET', `/v1/dead-letters/topics/mail.events.dlq/messages?code=${PARKED_CODE}`)).body.items;

  it('upgrade: a newer producer\'s extra fields are ignored and its new event type parked; replays go through the API and the CLI, each recorded', async () => {
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const created = await stack.post('/v1/emails', { to: 'upgrade@example.test', subject: 'Later', text: 'x', sendAt });
    expect(created.status).toBe(202);
    const emailId: string = created.body.id;
    await waitFor(async () => (await stack.get(`/v1/emails/${emailId}`)).body.status === 'scheduled' || undefined, { description: 'the email scheduled' });

    // Version N+1 of the mailer: a known type with fields version N does not know, and a new type.
    const canceledEventId = randomUUID();
    await publish(Topics.events, [
      {
        key: emailId,
        value: JSON.stringify({
          version: 1,
          eventId: canceledEventId,
          type: 'email.canceled',
          emailId,
          occurredAt: new Date().toISOString(),
          producer: 'mailer 2.0',
          detail: { reason: 'canceled by the operator', confidence: 0.9 },
        }),
      },
      { key: emailId, value: JSON.stringify({ version: 1, eventId: randomUUID(), type: 'email.opened', emailId, occurredAt: new Date().toISOString(), detail: { client: 'x' } }) },
    ]);
    const view = await waitFor(
      async () => {
        const v = await stack.get(`/v1/emails/${emailId}`);
        return v.body.status === 'canceled' ? v.body : undefined;
      },
      { description: 'the N+1 event with unknown fields applied' },
    );
    expect(view.events.map((e: { type: string }) => e.type)).toContain('email.canceled');

    const [parked, ...others] = await waitFor(async () => ((await parkedOnEvents()).length === 1 ? parkedOnEvents() : undefined), { description: 'the new type parked' });
    expect(others).toEqual([]);
    expect(parked).toMatchObject({ key: emailId, code: PARKED_CODE, sourceTopic: Topics.events, consumerGroup: `${stack.topicPrefix}business.email-events` });
    expect(parked.reason).toMatch(/type email\.opened/);
    // Counted, and not a reason to be unready.
    const health = await api('business', 'GET', '/health');
    expect(health.body).toMatchObject({ ready: true, dependencies: { kafka: { status: 'up', parked: 1, deadLettered: 0, failedDeadLetterWrites: 0, blockedPartitions: 0 } } });

    const shown = await api('business', 'GET', `/v1/dead-letters/topics/mail.events.dlq/messages/${parked.partition}/${parked.offset}`);
    expect(shown.status).toBe(200);
    expect(JSON.parse(shown.body.value)).toMatchObject({ type: 'email.opened', emailId });

    // Replayed by an API key: back on mail.events with its key, and (business still at version N) parked again.
    const replay = await api('business', 'POST', `/v1/dead-letters/topics/mail.events.dlq/messages/${parked.partition}/${parked.offset}/replay`);
    expect(replay.status).toBe(201);
    expect(replay.body).toMatchObject({ origin: 'kafka', deadLetterTopic: 'mail.events.dlq', targetTopic: Topics.events, key: emailId, replayedByKeyId: 'bootstrap:1' });
    const again = await waitFor(async () => {
      const items = await parkedOnEvents();
      return items.length === 2 ? items[1] : undefined;
    }, { description: 'the replayed message parked again' });
    const again_ = await api('business', 'GET', `/v1/dead-letters/topics/mail.events.dlq/messages/${again.partition}/${again.offset}`);
    expect(again_.body.key).toBe(emailId);
    expect(again_.body.value).toBe(shown.body.value);
    expect(again_.body.headers).toMatchObject({
      [ReplayHeaders.replayedFrom]: `${stack.topicPrefix}mail.events.dlq/${parked.partition}/${parked.offset}`,
      [ReplayHeaders.replayId]: replay.body.id,
    });

    // The CLI: every parked message of the topic, recorded as cli:<user>.
    const listed = (await cli('list', '--topic', 'mail.events.dlq', '--code', PARKED_CODE)) as unknown[];
    expect(listed).toHaveLength(2);
    const replayed = (await cli('replay', '--topic', 'mail.events.dlq', '--all', '--code', PARKED_CODE)) as { replayedBy: string }[];
    expect(replayed).toHaveLength(2);
    expect(replayed.every((r) => r.replayedBy.startsWith('cli:'))).toBe(true);
    await waitFor(async () => (await parkedOnEvents()).length === 4 || undefined, { description: 'the CLI replays parked again' });
    const replays = await api('business', 'GET', '/v1/dead-letters/replays?limit=2');
    expect(replays.body.items).toHaveLength(2);
    const rest = await api('business', 'GET', `/v1/dead-letters/replays?limit=2&cursor=${replays.body.nextCursor}`);
    expect(rest.body).toMatchObject({ items: [{ replayedByKeyId: 'bootstrap:1' }], nextCursor: null });

    // Nothing was lost or dead-lettered as invalid on the way.
    const topics = await api('business', 'GET', '/v1/dead-letters/topics');
    expect(topics.body.items).toContainEqual({ topic: 'mail.events.dlq', messages: 4 });
    expect(await api('business', 'GET', '/v1/dead-letters/outbox')).toEqual({ status: 200, body: { items: [], nextCursor: null } });
    expect((await api('business', 'POST', '/v1/dead-letters/outbox/42/replay')).status).toBe(404);
    expect((await api('business', 'GET', '/v1/dead-letters/topics/mail.events/messages')).status).toBe(400);
  });

  it('a dead-letter write that keeps failing: readiness 503 and the count in /health; once fixed, the partitions drain', async () => {
    const lane = Topics.requests.transactional;
    // Ready first (every consumer in its group), so that a 503 below is the blocked partitions' doing.
    await waitFor(async () => (await fetch(`${stack.mailerUrl}/health/ready`)).status === 200 || undefined, { timeoutMs: 30_000, description: 'the mailer ready' });
    // The dead-letter topic made unwritable for the poison: a 1 KB limit against 2 KB messages.
    await setMaxMessageBytes(deadLetterTopic(lane), 1_024);
    const poison = JSON.stringify({ version: 1, type: 'email.requested', emailId: 'not-a-uuid', padding: 'x'.repeat(2_000) });
    await publish(lane, [0, 1, 2, 3].map((partition) => ({ key: `poison-${partition}`, value: poison, partition })));
    const stuck = await stack.post('/v1/emails', { to: 'behind-poison@example.test', subject: 'Behind', text: 'x' });
    expect(stuck.status).toBe(202);

    await waitFor(async () => (await fetch(`${stack.mailerUrl}/health/ready`)).status === 503 || undefined, { timeoutMs: 30_000, description: 'the mailer not ready' });
    const health = await api('mailer', 'GET', '/health');
    expect(health.body.ready).toBe(false);
    expect(health.body.dependencies.kafka).toMatchObject({ status: 'down', blockedPartitions: 4, deadLettered: 0 });
    expect(health.body.dependencies.kafka.failedDeadLetterWrites).toBeGreaterThanOrEqual(12);
    expect((await stack.get(`/v1/emails/${stuck.body.id}`)).body.status).not.toBe('sent');

    await setMaxMessageBytes(deadLetterTopic(lane), 1_048_588);
    await waitFor(async () => (await stack.get(`/v1/emails/${stuck.body.id}`)).body.status === 'sent' || undefined, {
      timeoutMs: 60_000,
      description: 'the email behind the poison sent',
    });
    await waitFor(async () => (await fetch(`${stack.mailerUrl}/health/ready`)).status === 200 || undefined, { timeoutMs: 30_000, description: 'the mailer ready again' });
    expect((await api('mailer', 'GET', '/health')).body.dependencies.kafka).toMatchObject({ status: 'up', deadLettered: 4, blockedPartitions: 0 });
    const deadLetters = (await api('mailer', 'GET', `/v1/dead-letters/topics/${deadLetterTopic(lane)}/messages`)).body.items;
    expect(deadLetters.map((d: { key: string }) => d.key).sort()).toEqual(['poison-0', 'poison-1', 'poison-2', 'poison-3']);
  });
});
