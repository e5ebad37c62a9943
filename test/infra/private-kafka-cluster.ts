import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterNodeDir, startCluster, stopBroker, type ClusterNodePorts } from '../../scripts/kafka-broker.mjs';
import { freePort } from './ports.js';

/**
 * A KRaft cluster of its own for a test that kills its brokers: `size` combined broker+controller
 * nodes (ids 1..size), all voters of one quorum, each with its own ports and log directory. Data
 * survives {@link stop}/{@link start} of a node.
 */
export class PrivateKafkaCluster {
  private readonly dir = mkdtempSync(join(tmpdir(), 'email-loop-kafka-cluster-'));
  private nodes: ClusterNodePorts[] = [];

  constructor(readonly size = 3) {}

  /** `host:port,…` of every node, to configure clients with; valid once {@link start} ran. */
  get brokers(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** The node id (1-based) that serves clients on `port`, as metadata names brokers by node id. */
  nodeIds(): number[] {
    return this.nodes.map((_, i) => i + 1);
  }

  /** Starts every node (the first time), or only `nodeIds` (a restart: the others must be running). */
  async start(nodeIds?: number[]): Promise<void> {
    if (this.nodes.length === 0) {
      for (let i = 0; i < this.size; i++) this.nodes.push({ port: await freePort(), controllerPort: await freePort() });
    }
    // 384 MB each: three JVMs share a small machine with the apps and PostgreSQL.
    await startCluster({ dir: this.dir, nodes: this.nodes, detached: false, heapMb: 384, ...(nodeIds && { only: nodeIds }) });
  }

  /** Stops node `id`: SIGTERM = controlled shutdown (leadership moved first), SIGKILL = a crash. */
  async stop(id: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stopBroker(clusterNodeDir(this.dir, id), signal);
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodeIds().map((id) => this.stop(id, 'SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
