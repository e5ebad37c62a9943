#!/usr/bin/env node
// The local stack: PostgreSQL and Redis (the machine's services, started if down), a real
// single-node Apache Kafka 3.9 KRaft broker run from Maven-resolved jars (or, with `--brokers 3`,
// a cluster of three), and the two app databases. Every command is idempotent.
//
//   node scripts/stack.mjs up [--brokers <n>] | down | status
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokerPid, clusterNodeDir, portOpen, resolveKafkaJars, run, startBroker, startCluster, stopBroker, waitUntil } from './kafka-broker.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STATE = join(ROOT, '.stack', 'kafka');
// STACK_KAFKA_PORT moves the stack's broker (and a cluster's nodes after it) off 9092.
const KAFKA_PORT = Number(process.env.STACK_KAFKA_PORT ?? 9092);
const CONTROLLER_PORT = KAFKA_PORT + 1;
// A cluster's node n (1-based) listens on 9092 + 2(n-1) for clients and the next port for the
// quorum: node 1 keeps the single broker's address, so KAFKA_BROKERS=127.0.0.1:9092 still works.
const CLUSTER_STATE = join(ROOT, '.stack', 'kafka-cluster');
const MAX_BROKERS = 5;
const clusterNodes = (n) => Array.from({ length: n }, (_, i) => ({ port: KAFKA_PORT + 2 * i, controllerPort: KAFKA_PORT + 2 * i + 1 }));
/** Node ids of the cluster in CLUSTER_STATE that were started by this script (whether running or not). */
const clusterNodeIds = () =>
  existsSync(CLUSTER_STATE) ? readdirSync(CLUSTER_STATE).filter((d) => /^node-\d+$/.test(d)).map((d) => Number(d.slice(5))).sort((a, b) => a - b) : [];
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

async function startKafka(brokers) {
  if (brokers > 1) return startKafkaCluster(brokers);
  if (await portOpen(KAFKA_PORT)) return log(`Kafka is up on 127.0.0.1:${KAFKA_PORT}`);
  const started = Date.now();
  resolveKafkaJars(log);
  const pid = await startBroker({ dir: STATE, port: KAFKA_PORT, controllerPort: CONTROLLER_PORT });
  log(`Kafka 3.9 broker started on 127.0.0.1:${KAFKA_PORT} in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${pid})`);
}

async function startKafkaCluster(brokers) {
  const nodes = clusterNodes(brokers);
  const list = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  if (brokerPid(STATE) !== null) throw new Error(`the single Kafka broker runs on 127.0.0.1:${KAFKA_PORT}: stop it first (npm run stack:down)`);
  const existing = clusterNodeIds();
  if (existing.length > 0 && existing.length !== brokers) {
    throw new Error(`.stack/kafka-cluster holds a ${existing.length}-node cluster: a quorum cannot change size here (npm run stack:down -- --wipe, then up again)`);
  }
  const down = [];
  for (const [i, n] of nodes.entries()) {
    if (brokerPid(clusterNodeDir(CLUSTER_STATE, i + 1)) !== null) continue;
    if (await portOpen(n.port)) throw new Error(`port ${n.port} (node ${i + 1}) is taken by another process`);
    down.push(i + 1);
  }
  if (down.length === 0) return log(`Kafka cluster is up: KAFKA_BROKERS=${list}`);
  const started = Date.now();
  resolveKafkaJars(log);
  log(`starting Kafka node(s) ${down.join(', ')} of ${brokers} (combined broker+controller, one quorum; a first start takes a minute on a small machine)`);
  const pids = await startCluster({ dir: CLUSTER_STATE, nodes, only: down });
  log(`Kafka 3.9 cluster of ${brokers} started in ${((Date.now() - started) / 1000).toFixed(1)} s (pids ${pids.join(', ')})`);
  log(`use KAFKA_BROKERS=${list} (the apps create topics with replication factor ${Math.min(3, brokers)}, min.insync.replicas ${Math.min(3, brokers) >= 3 ? 2 : 1})`);
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

async function up(args) {
  const { values } = parseArgs({ args, options: { brokers: { type: 'string', default: '1' } } });
  const brokers = Number(values.brokers);
  if (!Number.isInteger(brokers) || brokers < 1 || brokers > MAX_BROKERS) throw new Error(`--brokers must be a whole number from 1 to ${MAX_BROKERS}`);
  const started = Date.now();
  await ensurePostgres();
  await ensureRedis();
  await startKafka(brokers);
  await ensureDatabases();
  log(`stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

async function down(args) {
  const { values } = parseArgs({ args, options: { wipe: { type: 'boolean', default: false } } });
  const stopped = await stopBroker(STATE);
  // The cluster's nodes stop together: controlled shutdowns in parallel keep a quorum to the end.
  const nodes = (await Promise.all(clusterNodeIds().map((id) => stopBroker(clusterNodeDir(CLUSTER_STATE, id))))).filter(Boolean).length;
  if (values.wipe) rmSync(CLUSTER_STATE, { recursive: true, force: true });
  const what = [stopped && 'Kafka stopped', nodes > 0 && `${nodes} cluster node(s) stopped`, values.wipe && 'cluster data wiped'].filter(Boolean);
  log(`${what.length > 0 ? what.join(', ') : 'Kafka is not running'} (PostgreSQL and Redis are machine services and stay up)`);
}

async function status() {
  log(`PostgreSQL: ${(await portOpen(5432)) ? 'up' : 'down'}`);
  log(`Redis:      ${(await redisPing()) ? 'up' : 'down'}`);
  const ids = clusterNodeIds();
  const origin = brokerPid(STATE) ? ` (pid ${brokerPid(STATE)})` : ids.length > 0 ? ` (a ${ids.length}-node cluster)` : ' (not started by this script)';
  log(`Kafka:      ${(await portOpen(KAFKA_PORT)) ? `up${origin}` : 'down'}`);
  const nodes = clusterNodes(ids.length);
  for (const id of ids) {
    const pid = brokerPid(clusterNodeDir(CLUSTER_STATE, id));
    log(`  node ${id}:   127.0.0.1:${nodes[id - 1].port} ${pid !== null ? `up (pid ${pid})` : 'down'}`);
  }
}

const commands = { up, down, status };
const command = commands[process.argv[2]];
if (!command) {
  console.error('usage: node scripts/stack.mjs up [--brokers <n>] | down [--wipe] | status');
  process.exit(2);
}
command(process.argv.slice(3)).catch((error) => {
  console.error(`[stack] ${error.message}`);
  process.exit(1);
});
