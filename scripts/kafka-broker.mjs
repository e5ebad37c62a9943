// Runs a single-node Apache Kafka 3.9 KRaft broker (broker + controller in one JVM) from the
// jars Maven resolved into .stack/kafka/libs. Used by `stack.mjs` for the shared development
// broker and by the fault suite for private brokers it can stop and restart.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LIBS = join(ROOT, '.stack', 'kafka', 'libs');
const LIBS_READY = join(LIBS, '.complete');

export function portOpen(port, host = '127.0.0.1') {
  return new Promise((res) => {
    const socket = connect({ port, host });
    socket.setTimeout(1_000);
    socket.once('connect', () => (socket.destroy(), res(true)));
    socket.once('error', () => res(false));
    socket.once('timeout', () => (socket.destroy(), res(false)));
  });
}

export async function waitUntil(check, what, timeoutMs, onTimeout = () => '') {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${onTimeout()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
  return result;
}

/** Copies the broker's jars from Maven (Central, or the local repository) once. */
export function resolveKafkaJars(log = () => undefined) {
  if (existsSync(LIBS_READY)) return;
  log('resolving Kafka jars from Maven Central (first run only)');
  rmSync(LIBS, { recursive: true, force: true });
  run('mvn', ['-B', '-q', '-f', join(ROOT, 'stack/kafka/pom.xml'), 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${LIBS}`]);
  writeFileSync(LIBS_READY, new Date().toISOString());
}

function tail(file, lines = 30) {
  if (!existsSync(file)) return '';
  return `\n--- last lines of ${file} ---\n${readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')}`;
}

const SASL_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN'];
const jaasQuote = (text) => `"${String(text).replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/**
 * The listeners of a broker: plaintext on `port`; with `security`, the client listener on `port`
 * is SASL_PLAINTEXT (and one on `security.sslPort` SASL_SSL) with SCRAM-SHA-256/512 and PLAIN,
 * while the broker talks to itself on a plaintext `security.internalPort`.
 */
function listenerProperties(port, controllerPort, security) {
  if (!security) {
    return {
      listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
      'inter.broker.listener.name': 'PLAINTEXT',
      'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    };
  }
  const clients = [['SASL', port, 'SASL_PLAINTEXT']];
  if (security.sslPort) clients.push(['SASLSSL', security.sslPort, 'SASL_SSL']);
  const advertised = [...clients.map(([name, p]) => `${name}://127.0.0.1:${p}`), `INTERNAL://127.0.0.1:${security.internalPort}`];
  const props = {
    listeners: [...advertised, `CONTROLLER://127.0.0.1:${controllerPort}`].join(','),
    'advertised.listeners': advertised.join(','),
    'inter.broker.listener.name': 'INTERNAL',
    'listener.security.protocol.map': ['CONTROLLER:PLAINTEXT', 'INTERNAL:PLAINTEXT', ...clients.map(([name, , protocol]) => `${name}:${protocol}`)].join(','),
  };
  const plainUsers = Object.entries(security.plainUsers ?? {}).map(([name, password]) => `user_${name}=${jaasQuote(password)}`);
  for (const [name] of clients) {
    const prefix = `listener.name.${name.toLowerCase()}`;
    props[`${prefix}.sasl.enabled.mechanisms`] = SASL_MECHANISMS.join(',');
    props[`${prefix}.plain.sasl.jaas.config`] = `org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers.join(' ')};`;
    for (const scram of ['scram-sha-256', 'scram-sha-512']) {
      props[`${prefix}.${scram}.sasl.jaas.config`] = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
    }
  }
  if (security.sslPort) {
    // A PEM file holding the broker's PKCS#8 key (unencrypted) followed by its certificate chain.
    props['listener.name.saslssl.ssl.keystore.type'] = 'PEM';
    props['listener.name.saslssl.ssl.keystore.location'] = security.keystorePemFile;
  }
  return props;
}

/**
 * `node`: this node's id and the controller quorum (`voters`, `{ id, controllerPort }` of every
 * combined broker+controller node); absent, a single node (id 1, voting alone).
 */
function writeServerProperties(dir, port, controllerPort, security, node) {
  const voters = node?.voters ?? [{ id: 1, controllerPort }];
  // Internal topics (group offsets, transactions) replicated like ours: a commit survives a broker.
  const replicas = Math.min(3, voters.length);
  const props = {
    'process.roles': 'broker,controller',
    'node.id': String(node?.id ?? 1),
    'controller.quorum.voters': voters.map((v) => `${v.id}@127.0.0.1:${v.controllerPort}`).join(','),
    ...listenerProperties(port, controllerPort, security),
    'controller.listener.names': 'CONTROLLER',
    'log.dirs': join(dir, 'data'),
    'num.partitions': '4',
    'auto.create.topics.enable': 'false',
    'offsets.topic.replication.factor': String(replicas),
    'offsets.topic.num.partitions': '10',
    'transaction.state.log.replication.factor': String(replicas),
    'transaction.state.log.min.isr': String(Math.min(2, replicas)),
    // A topic created without settings of its own (not ours: the apps set both) gets the same.
    'default.replication.factor': String(replicas),
    // Without this every new consumer group waits 3 s before its first assignment.
    'group.initial.rebalance.delay.ms': '0',
    'log.retention.hours': '24',
    'log.segment.bytes': String(64 * 1024 * 1024),
    ...(node && {
      // Several JVMs on a small, busy machine: a node that starts slowly must not give up on
      // registering (default 60 s), and a quorum member a few seconds late to fetch must not
      // trigger an election (defaults 1 s / 2 s). A dead broker is still fenced after the
      // default session timeout (9 s), when its partitions get new leaders.
      'initial.broker.registration.timeout.ms': '240000',
      'controller.quorum.election.timeout.ms': '3000',
      'controller.quorum.fetch.timeout.ms': '8000',
    }),
  };
  const file = join(dir, 'server.properties');
  writeFileSync(file, Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  return file;
}

function clusterId(dir) {
  const file = join(dir, 'cluster-id');
  // A KRaft cluster id is 16 random bytes in URL-safe base64 without padding.
  if (!existsSync(file)) writeFileSync(file, randomBytes(16).toString('base64url'));
  return readFileSync(file, 'utf8').trim();
}

/** The pid of the broker started in `dir`, or null when it is not running. */
export function brokerPid(dir) {
  const file = join(dir, 'kafka.pid');
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8'));
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/**
 * Starts a broker whose state lives in `dir` (formatted on first start, kept across restarts)
 * and resolves once it accepts clients. `detached` lets it outlive this process.
 *
 * `security` (tests of authenticated clients): `{ internalPort, sslPort?, keystorePemFile?,
 * scramUsers: [{ mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', name, password }],
 * plainUsers: { name: password } }`; SCRAM users are created when the storage is formatted.
 */
export async function startBroker({ dir, port, controllerPort, detached = true, heapMb = 512, security }) {
  const node = launchNode({ dir, port, controllerPort, detached, heapMb, security, clusterId: clusterId(dir) });
  await node.started;
  return node.pid;
}

/**
 * Formats (first start only) and spawns one node; `started` resolves once it accepts clients.
 * A node of a cluster can finish starting only once a majority of the voters runs, hence the
 * split: {@link startCluster} launches every node before it waits for any.
 */
function launchNode({ dir, port, controllerPort, detached, heapMb, security, clusterId: id, node }) {
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  resolveKafkaJars();
  const props = writeServerProperties(dir, port, controllerPort, security, node);
  const scram = (security?.scramUsers ?? []).flatMap((u) => ['--add-scram', `${u.mechanism}=[name=${u.name},password=${u.password}]`]);
  const classpath = `${LIBS}/*`;
  const jvmLog = [`-Dlog4j.configuration=file:${join(ROOT, 'stack/kafka/log4j.properties')}`, `-Dkafka.logs.dir=${logs}`];
  run('java', [...jvmLog, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', props, '--ignore-formatted', ...scram], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const serverLog = join(logs, 'server.log');
  const startsBefore = countStarts(serverLog);
  const out = openSync(join(logs, 'stdout.log'), 'a');
  // A cluster's nodes share the machine: the serial collector and the client compiler only cost
  // a few threads each, where G1 and C2 would start a dozen per JVM.
  const jvm = node ? ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'] : ['-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20'];
  const child = spawn(
    'java',
    [`-Xms${Math.min(256, heapMb)}m`, `-Xmx${heapMb}m`, ...jvm, '-Djava.awt.headless=true', ...jvmLog, '-cp', classpath, 'kafka.Kafka', props],
    { detached, stdio: ['ignore', out, out] },
  );
  if (detached) child.unref();
  writeFileSync(join(dir, 'kafka.pid'), String(child.pid));
  const started = waitUntil(
    async () => {
      if (brokerPid(dir) === null) throw new Error(`the Kafka broker exited during start-up${tail(serverLog)}${tail(join(logs, 'stdout.log'))}`);
      return (await portOpen(port)) && countStarts(serverLog) > startsBefore;
    },
    `the Kafka broker in ${dir}`,
    // Several JVMs starting at once on a small machine: a node of a cluster gets longer.
    node ? 240_000 : 120_000,
    () => tail(serverLog),
  );
  return { pid: child.pid, started };
}

/** The directory of node `id` (1-based) of a cluster started in `dir`. */
export function clusterNodeDir(dir, id) {
  return join(dir, `node-${id}`);
}

/**
 * Starts (or restarts) a KRaft cluster in `dir`: `nodes` combined broker+controller nodes, each
 * with its own ports and log directory (`dir/node-<id>`), all voters of one quorum with the same
 * cluster id. Resolves with the pids once every node accepts clients. `only` restarts just those
 * node ids (the others must be running: a node needs a quorum majority to start).
 */
export async function startCluster({ dir, nodes, detached = true, heapMb = 384, only }) {
  mkdirSync(dir, { recursive: true });
  const id = clusterId(dir);
  const voters = nodes.map((n, i) => ({ id: i + 1, controllerPort: n.controllerPort }));
  const launch = (n) =>
    launchNode({ dir: clusterNodeDir(dir, n.id), port: n.port, controllerPort: n.controllerPort, detached, heapMb, clusterId: id, node: { id: n.id, voters } });
  const wanted = nodes.map((n, i) => ({ ...n, id: i + 1 })).filter((n) => !only || only.includes(n.id));
  const launched = wanted.map(launch);
  // A node that gave up while the others were still starting (a starved quorum) gets two more
  // tries: its peers are further along by then.
  const pids = await Promise.all(
    wanted.map(async (n, i) => {
      let attempt = launched[i];
      for (let tries = 1; ; tries++) {
        try {
          await attempt.started;
          return attempt.pid;
        } catch (error) {
          if (tries === 3 || brokerPid(clusterNodeDir(dir, n.id)) !== null) throw error;
          attempt = launch(n);
        }
      }
    }),
  );
  return pids;
}

function countStarts(serverLog) {
  return existsSync(serverLog) ? (readFileSync(serverLog, 'utf8').match(/Kafka Server started/g) ?? []).length : 0;
}

/** Stops the broker started in `dir` (SIGTERM = controlled shutdown; SIGKILL after 30 s). */
export async function stopBroker(dir, signal = 'SIGTERM') {
  const pid = brokerPid(dir);
  if (pid === null) return false;
  process.kill(pid, signal);
  try {
    await waitUntil(async () => brokerPid(dir) === null, 'Kafka to stop', 30_000);
  } catch {
    process.kill(pid, 'SIGKILL');
    await waitUntil(async () => brokerPid(dir) === null, 'Kafka to be killed', 10_000);
  }
  rmSync(join(dir, 'kafka.pid'), { force: true });
  return true;
}
