import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, stopBroker, type BrokerSecurity } from '../../scripts/kafka-broker.mjs';
import { freePort } from './ports.js';

/** Clients must authenticate: SASL on {@link PrivateKafka.port}, and SASL over TLS on `sslPort` with `tlsKeystorePemFile`. */
export interface PrivateKafkaSecurity {
  scramUsers?: BrokerSecurity['scramUsers'];
  plainUsers?: BrokerSecurity['plainUsers'];
  /** The broker's unencrypted PKCS#8 key followed by its certificate (PEM): adds a SASL_SSL listener. */
  tlsKeystorePemFile?: string;
}

/**
 * A Kafka broker of its own for a test that stops and restarts it, so the shared development
 * broker (and every other test on it) is left alone. Its data survives `stop()`/`start()`.
 */
export class PrivateKafka {
  private readonly dir = mkdtempSync(join(tmpdir(), 'email-loop-kafka-'));
  port = 0;
  /** The SASL_SSL listener's port, with `tlsKeystorePemFile`. */
  sslPort = 0;
  private controllerPort = 0;
  private internalPort = 0;

  constructor(private readonly security?: PrivateKafkaSecurity) {}

  /** `host:port` to configure clients with; valid once {@link reservePorts} or {@link start} ran. */
  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Picks the broker's ports without starting it, so apps can be configured with its address
   * while it is still down (e.g. apps started before their broker). Idempotent.
   */
  async reservePorts(): Promise<string> {
    if (this.port === 0) [this.port, this.controllerPort] = [await freePort(), await freePort()];
    if (this.security && this.internalPort === 0) {
      this.internalPort = await freePort();
      if (this.security.tlsKeystorePemFile) this.sslPort = await freePort();
    }
    return this.brokers;
  }

  async start(): Promise<void> {
    await this.reservePorts();
    const security: BrokerSecurity | undefined = this.security && {
      internalPort: this.internalPort,
      scramUsers: this.security.scramUsers ?? [],
      plainUsers: this.security.plainUsers ?? {},
      ...(this.security.tlsKeystorePemFile && { sslPort: this.sslPort, keystorePemFile: this.security.tlsKeystorePemFile }),
    };
    await startBroker({ dir: this.dir, port: this.port, controllerPort: this.controllerPort, detached: false, heapMb: 384, ...(security && { security }) });
  }

  /** SIGTERM = controlled shutdown, SIGKILL = a crash. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stopBroker(this.dir, signal);
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
