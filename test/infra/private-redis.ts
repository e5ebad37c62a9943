import { spawn, type ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import { freePort } from './ports.js';

export interface PrivateRedisOptions {
  /** `requirepass`: clients must AUTH with it. */
  password?: string;
  /** Serve TLS only (`--tls-port`), with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

/**
 * A `redis-server` of its own on loopback (no persistence), for a test of authentication or TLS
 * that the machine's shared Redis does not have.
 */
export class PrivateRedis {
  port = 0;
  private child?: ChildProcess;

  constructor(private readonly options: PrivateRedisOptions = {}) {}

  async start(): Promise<void> {
    this.port = await freePort();
    const { password, tls } = this.options;
    const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    if (password !== undefined) args.push('--requirepass', password);
    if (tls) {
      // Clients are not asked for a certificate: they authenticate with the password, as the apps do.
      args.push('--port', '0', '--tls-port', String(this.port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no');
    } else {
      args.push('--port', String(this.port));
    }
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (!(await this.listening())) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start (exit ${child.exitCode})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private listening(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = new Socket();
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
      socket.connect(this.port, '127.0.0.1');
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}
