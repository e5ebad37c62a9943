import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { KafkaClient, KafkaProducer, KafkaTopicAdmin, type KafkaModuleOptions } from '@app/kafka';
import { makeTestCertificates, waitFor, type TestCertificates } from '@app/testing';
import { PrivateKafka } from './infra/private-kafka.js';
import { EmailLoopStack } from './stack.js';

const SCRAM_512 = { name: 'business', password: 'scram-512-secret-7c1e' };
const SCRAM_256 = { name: 'reporting', password: 'scram-256-secret-a94d' };
const PLAIN = { name: 'mailer', password: 'plain-secret-30b8' };
const SECRETS = [SCRAM_512.password, SCRAM_256.password, PLAIN.password];

/**
 * Kafka with authentication, end to end: a private KRaft broker whose client listener is
 * SASL_PLAINTEXT (SCRAM-SHA-256/512 users created at format time, PLAIN users in its JAAS config)
 * plus a SASL_SSL listener with a certificate from a private CA made by openssl.
 */
describe('Kafka with SASL and TLS (private broker)', () => {
  let certs: TestCertificates;
  let broker: PrivateKafka;

  beforeAll(async () => {
    certs = makeTestCertificates();
    const keystore = join(certs.dir, 'broker-keystore.pem');
    writeFileSync(keystore, certs.key + certs.cert);
    broker = new PrivateKafka({
      scramUsers: [
        { mechanism: 'SCRAM-SHA-512', ...SCRAM_512 },
        { mechanism: 'SCRAM-SHA-256', ...SCRAM_256 },
      ],
      plainUsers: { [PLAIN.name]: PLAIN.password },
      tlsKeystorePemFile: keystore,
    });
    await broker.start();
  }, 240_000);

  afterAll(async () => {
    await broker?.destroy();
    certs?.remove();
  });

  /** Our client on the broker, logging into `logs`; produces one record and reads it back. */
  async function roundTrip(options: Omit<KafkaModuleOptions, 'clientId'>, logs: string[]): Promise<string> {
    const clientOptions = { clientId: 'transport-security', ...options };
    const client = new KafkaClient(clientOptions);
    const producer = new KafkaProducer(client);
    const topic = `sasl-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const consumer = client.kafka.consumer({ groupId: `${topic}-group` });
    try {
      await new KafkaTopicAdmin(client, { ...clientOptions, partitions: 1 }).ensureTopics([topic]);
      await producer.send([{ topic, key: 'k', value: 'hello over SASL' }]);
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      let received: string | undefined;
      await consumer.run({ eachMessage: async ({ message }) => void (received = message.value?.toString()) });
      return await waitFor(() => received, { timeoutMs: 30_000, description: 'the record read back' });
    } finally {
      await consumer.disconnect();
      await producer.onApplicationShutdown();
      expect(logs.join('\n')).not.toMatch(new RegExp(SECRETS.join('|')));
    }
  }

  /** Captures what our clients log through Nest's logger (kafkajs's own log goes there). */
  function captureLogs(): { logs: string[]; restore: () => void } {
    const logs: string[] = [];
    const record = (message: unknown, ...rest: unknown[]): void => void logs.push([message, ...rest].map(String).join(' '));
    Logger.overrideLogger({ log: record, error: record, warn: record, debug: record, verbose: record, fatal: record });
    return { logs, restore: () => Logger.overrideLogger(['log', 'error', 'warn']) };
  }

  it('produces and consumes with SCRAM-SHA-512 and with PLAIN on the SASL_PLAINTEXT listener', async () => {
    const { logs, restore } = captureLogs();
    try {
      const sasl = { mechanism: 'scram-sha-512' as const, username: SCRAM_512.name, password: SCRAM_512.password };
      expect(await roundTrip({ brokers: [broker.brokers], sasl }, logs)).toBe('hello over SASL');
      const plain = { mechanism: 'plain' as const, username: PLAIN.name, password: PLAIN.password };
      expect(await roundTrip({ brokers: [broker.brokers], sasl: plain }, logs)).toBe('hello over SASL');
    } finally {
      restore();
    }
  });

  it('produces and consumes with SCRAM-SHA-256 over TLS, trusting the private CA', async () => {
    const { logs, restore } = captureLogs();
    try {
      const options = {
        brokers: [`localhost:${broker.sslPort}`],
        ssl: { ca: certs.ca, rejectUnauthorized: true },
        sasl: { mechanism: 'scram-sha-256' as const, username: SCRAM_256.name, password: SCRAM_256.password },
      };
      expect(await roundTrip(options, logs)).toBe('hello over SASL');
    } finally {
      restore();
    }
  });

  it('refuses a wrong password and a broker certificate from an untrusted CA, with errors that hold no secret', async () => {
    const { logs, restore } = captureLogs();
    const wrong = 'wrong-password-e5a1';
    try {
      for (const options of [
        { brokers: [broker.brokers], sasl: { mechanism: 'scram-sha-512' as const, username: SCRAM_512.name, password: wrong } },
        { brokers: [broker.brokers], sasl: { mechanism: 'plain' as const, username: PLAIN.name, password: wrong } },
        {
          brokers: [`localhost:${broker.sslPort}`],
          ssl: { ca: readFileSync(certs.otherCaFile, 'utf8'), rejectUnauthorized: true },
          sasl: { mechanism: 'scram-sha-256' as const, username: SCRAM_256.name, password: SCRAM_256.password },
        },
      ]) {
        const client = new KafkaClient({ clientId: 'transport-security-refused', ...options });
        const producer = new KafkaProducer(client);
        const error = await producer.send([{ topic: 'never', key: 'k', value: 'v' }]).then(
          () => expect.fail('the broker accepted the client'),
          (e: unknown) => e as Error,
        );
        await producer.onApplicationShutdown();
        const text = `${error.name} ${error.message} ${JSON.stringify(error)} ${String((error as { cause?: unknown }).cause)}`;
        expect(text).not.toContain(wrong);
        expect(text).not.toMatch(new RegExp(SECRETS.join('|')));
        if (options.ssl) expect(text).toMatch(/certificate|self[- ]signed|verify/i);
        else expect(text).toMatch(/SASL .*authentication failed/i);
      }
      expect(logs.join('\n')).not.toContain(wrong);
      expect(logs.join('\n')).not.toMatch(new RegExp(SECRETS.join('|')));
    } finally {
      restore();
    }
  });

  it('carries one email through the whole loop: business with SCRAM-SHA-512, mailer with PLAIN over TLS', async () => {
    const stack = new EmailLoopStack();
    const passwordFile = join(certs.dir, 'kafka-password');
    writeFileSync(passwordFile, `${PLAIN.password}\n`, { mode: 0o600 });
    try {
      await stack.start({
        kafkaBrokers: broker.brokers,
        businessEnv: { KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: SCRAM_512.name, KAFKA_SASL_PASSWORD: SCRAM_512.password },
        // The mailer reaches the SASL_SSL listener, trusting the private CA, with its password in a file.
        mailerEnv: {
          KAFKA_BROKERS: `localhost:${broker.sslPort}`,
          KAFKA_SSL: 'true',
          KAFKA_SSL_CA_FILE: certs.caFile,
          KAFKA_SASL_MECHANISM: 'PLAIN',
          KAFKA_SASL_USERNAME: PLAIN.name,
          KAFKA_SASL_PASSWORD_FILE: passwordFile,
        },
      });
      const res = await stack.post('/v1/emails', { to: 'ada@example.test', subject: 'Over SASL', text: 'Hi' });
      expect(res.status).toBe(202);
      await waitFor(async () => (await stack.get(`/v1/emails/${res.body.id}`)).body.status === 'sent' || undefined, {
        timeoutMs: 60_000,
        description: 'the email sent and its status back at business',
      });
      expect(stack.smtp.mails.map((m) => m.subject)).toEqual(['Over SASL']);
      const health = await stack.get('/health/ready');
      expect(JSON.stringify(health.body)).not.toMatch(new RegExp(SECRETS.join('|')));
    } finally {
      await stack.stop();
    }
    for (const app of [...stack.businesses, ...stack.mailers]) {
      expect(readFileSync(app.logFile, 'utf8')).not.toMatch(new RegExp(SECRETS.join('|')));
    }
  });
});
