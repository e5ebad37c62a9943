export function portOpen(port: number, host?: string): Promise<boolean>;
export function brokerPid(dir: string): number | null;
export function resolveKafkaJars(log?: (message: string) => void): void;
export function startBroker(options: {
  dir: string;
  port: number;
  controllerPort: number;
  detached?: boolean;
  heapMb?: number;
  security?: BrokerSecurity;
}): Promise<number>;

/** A broker whose clients must authenticate (SASL), optionally over TLS too. */
export interface BrokerSecurity {
  /** Plaintext listener the broker uses to reach itself. */
  internalPort: number;
  /** A second client listener, SASL_SSL; needs `keystorePemFile`. */
  sslPort?: number;
  /** PEM file: the broker's unencrypted PKCS#8 key followed by its certificate chain. */
  keystorePemFile?: string;
  scramUsers?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; name: string; password: string }[];
  plainUsers?: Record<string, string>;
}
export function stopBroker(dir: string, signal?: NodeJS.Signals): Promise<boolean>;
export function clusterNodeDir(dir: string, id: number): string;
/** One node of a cluster: its client (broker) port and its controller (quorum) port. */
export interface ClusterNodePorts {
  port: number;
  controllerPort: number;
}
export function startCluster(options: { dir: string; nodes: ClusterNodePorts[]; detached?: boolean; heapMb?: number; only?: number[] }): Promise<number[]>;
