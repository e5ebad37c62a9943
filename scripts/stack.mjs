#!/usr/bin/env node
// The local stack: PostgreSQL and Redis (the machine's services, started if down), a real
// single-node Apache Kafka 3.9 KRaft broker run from Maven-resolved jars, and the two app
// databases. Every command is idempotent.
//
//   node scripts/stack.mjs up | down | status
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokerPid, portOpen, resolveKafkaJars, run, startBroker, stopBroker, waitUntil } from './kafka-broker.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STATE = join(ROOT, '.stack', 'kafka');
const KAFKA_PORT = 9092;
const CONTROLLER_PORT = 9093;
export const DATABASES = ['email_business', 'email_mailer'];

const log = (msg) => console.log(`[stack] ${msg}`);

function redisPing() {
  return new Promise((res) => {
    const socket = connect({ port: 6379, host: '127.0.0.1' });
    let reply = '';
    socket.setTimeout(1_000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      reply += d.toString();
      if (!reply.includes('\r\n')) return;
      socket.destroy();
      res(reply.startsWith('+PONG'));
    });
    socket.once('error', () => res(false));
    socket.once('timeout', () => (socket.destroy(), res(false)));
  });
}

async function ensurePostgres() {
  if (await portOpen(5432)) return log('PostgreSQL is up on 127.0.0.1:5432');
  const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : [];
  if (versions.length === 0) throw new Error('PostgreSQL is not running and no local cluster was found in /etc/postgresql');
  log('starting PostgreSQL');
  run('pg_ctlcluster', ['--skip-systemctl-redirect', versions[0], 'main', 'start']);
  await waitUntil(() => portOpen(5432), 'PostgreSQL', 30_000);
}

async function ensureRedis() {
  if (await redisPing()) return log('Redis is up on 127.0.0.1:6379');
  log('starting Redis');
  mkdirSync('/var/lib/redis', { recursive: true });
  mkdirSync('/var/log/redis', { recursive: true });
  run('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', '6379', '--save', '', '--appendonly', 'no', '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log']);
  await waitUntil(redisPing, 'Redis', 30_000);
}

async function startKafka() {
  if (await portOpen(KAFKA_PORT)) return log(`Kafka is up on 127.0.0.1:${KAFKA_PORT}`);
  const started = Date.now();
  resolveKafkaJars(log);
  const pid = await startBroker({ dir: STATE, port: KAFKA_PORT, controllerPort: CONTROLLER_PORT });
  log(`Kafka 3.9 broker started on 127.0.0.1:${KAFKA_PORT} in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${pid})`);
}

async function ensureDatabases() {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: process.env.STACK_POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
  await admin.connect();
  try {
    for (const name of DATABASES) {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (rowCount === 0) {
        await admin.query(`CREATE DATABASE "${name}"`);
        log(`created database ${name}`);
      }
    }
  } finally {
    await admin.end();
  }
  log('databases ready (each app applies its migrations at start-up)');
}

async function up() {
  const started = Date.now();
  await ensurePostgres();
  await ensureRedis();
  await startKafka();
  await ensureDatabases();
  log(`stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

async function down() {
  const stopped = await stopBroker(STATE);
  log(`${stopped ? 'Kafka stopped' : 'Kafka is not running'} (PostgreSQL and Redis are machine services and stay up)`);
}

async function status() {
  log(`PostgreSQL: ${(await portOpen(5432)) ? 'up' : 'down'}`);
  log(`Redis:      ${(await redisPing()) ? 'up' : 'down'}`);
  log(`Kafka:      ${(await portOpen(KAFKA_PORT)) ? `up${brokerPid(STATE) ? ` (pid ${brokerPid(STATE)})` : ' (not started by this script)'}` : 'down'}`);
}

const commands = { up, down, status };
const command = commands[process.argv[2]];
if (!command) {
  console.error('usage: node scripts/stack.mjs up|down|status');
  process.exit(2);
}
command().catch((error) => {
  console.error(`[stack] ${error.message}`);
  process.exit(1);
});
