#!/usr/bin/env node
// The local stack: PostgreSQL and Redis (the machine's services, started if down), a real
// single-node Apache Kafka 3.9 KRaft broker run from Maven-resolved jars, and the two app
// databases. Every command is idempotent.
//
//   node scripts/stack.mjs up | down | status
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STATE = join(ROOT, '.stack', 'kafka');
const LIBS = join(STATE, 'libs');
const LIBS_READY = join(LIBS, '.complete');
const DATA = join(STATE, 'data');
const LOGS = join(STATE, 'logs');
const PID_FILE = join(STATE, 'kafka.pid');
const PROPS = join(STATE, 'server.properties');
const CLUSTER_ID_FILE = join(STATE, 'cluster-id');
const KAFKA_PORT = 9092;
const CONTROLLER_PORT = 9093;
export const DATABASES = ['email_business', 'email_mailer'];

const log = (msg) => console.log(`[stack] ${msg}`);

function portOpen(port, host = '127.0.0.1') {
  return new Promise((res) => {
    const socket = connect({ port, host });
    socket.setTimeout(1_000);
    socket.once('connect', () => (socket.destroy(), res(true)));
    socket.once('error', () => res(false));
    socket.once('timeout', () => (socket.destroy(), res(false)));
  });
}

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

async function waitUntil(check, what, timeoutMs, onTimeout = () => '') {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${onTimeout()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
  return result;
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

function resolveKafkaJars() {
  if (existsSync(LIBS_READY)) return;
  log('resolving Kafka jars from Maven Central (first run only)');
  rmSync(LIBS, { recursive: true, force: true });
  run('mvn', ['-B', '-q', '-f', join(ROOT, 'stack/kafka/pom.xml'), 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${LIBS}`]);
  writeFileSync(LIBS_READY, new Date().toISOString());
}

function writeServerProperties() {
  const props = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.voters': `1@127.0.0.1:${CONTROLLER_PORT}`,
    listeners: `PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${KAFKA_PORT}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': DATA,
    'num.partitions': '4',
    'auto.create.topics.enable': 'false',
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '10',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    // Without this every new consumer group waits 3 s before its first assignment.
    'group.initial.rebalance.delay.ms': '0',
    'log.retention.hours': '24',
    'log.segment.bytes': String(64 * 1024 * 1024),
  };
  writeFileSync(PROPS, Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
}

function clusterId() {
  if (!existsSync(CLUSTER_ID_FILE)) {
    // A KRaft cluster id is 16 random bytes in URL-safe base64 without padding.
    writeFileSync(CLUSTER_ID_FILE, randomBytes(16).toString('base64url'));
  }
  return readFileSync(CLUSTER_ID_FILE, 'utf8').trim();
}

function kafkaPid() {
  if (!existsSync(PID_FILE)) return null;
  const pid = Number(readFileSync(PID_FILE, 'utf8'));
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

function tail(file, lines = 30) {
  if (!existsSync(file)) return '';
  return `\n--- last lines of ${file} ---\n${readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')}`;
}

async function startKafka() {
  if (await portOpen(KAFKA_PORT)) return log(`Kafka is up on 127.0.0.1:${KAFKA_PORT}`);
  const started = Date.now();
  mkdirSync(LOGS, { recursive: true });
  resolveKafkaJars();
  writeServerProperties();
  const classpath = `${LIBS}/*`;
  const jvmLog = [`-Dlog4j.configuration=file:${join(ROOT, 'stack/kafka/log4j.properties')}`, `-Dkafka.logs.dir=${LOGS}`];
  run('java', [...jvmLog, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', PROPS, '--ignore-formatted'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const out = openSync(join(LOGS, 'stdout.log'), 'a');
  const child = spawn(
    'java',
    ['-Xms256m', '-Xmx512m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true', ...jvmLog, '-cp', classpath, 'kafka.Kafka', PROPS],
    { detached: true, stdio: ['ignore', out, out] },
  );
  child.unref();
  writeFileSync(PID_FILE, String(child.pid));
  const serverLog = join(LOGS, 'server.log');
  await waitUntil(
    async () => {
      if (kafkaPid() === null) throw new Error(`the Kafka broker exited during start-up${tail(serverLog)}${tail(join(LOGS, 'stdout.log'))}`);
      return (await portOpen(KAFKA_PORT)) && existsSync(serverLog) && /Kafka Server started/.test(readFileSync(serverLog, 'utf8'));
    },
    'the Kafka broker',
    120_000,
    () => tail(serverLog),
  );
  log(`Kafka 3.9 broker started on 127.0.0.1:${KAFKA_PORT} in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${child.pid})`);
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
  const pid = kafkaPid();
  if (pid === null) {
    rmSync(PID_FILE, { force: true });
    return log('Kafka is not running (PostgreSQL and Redis are machine services and stay up)');
  }
  process.kill(pid, 'SIGTERM');
  try {
    await waitUntil(async () => kafkaPid() === null, 'Kafka to stop', 30_000);
  } catch {
    process.kill(pid, 'SIGKILL');
  }
  rmSync(PID_FILE, { force: true });
  log('Kafka stopped (PostgreSQL and Redis are machine services and stay up)');
}

async function status() {
  log(`PostgreSQL: ${(await portOpen(5432)) ? 'up' : 'down'}`);
  log(`Redis:      ${(await redisPing()) ? 'up' : 'down'}`);
  log(`Kafka:      ${(await portOpen(KAFKA_PORT)) ? `up${kafkaPid() ? ` (pid ${kafkaPid()})` : ' (not started by this script)'}` : 'down'}`);
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
