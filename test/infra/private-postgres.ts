import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/** PostgreSQL's server binaries (Debian layout), or PG_BINDIR. */
function binDir(): string {
  if (process.env.PG_BINDIR) return process.env.PG_BINDIR;
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql; set PG_BINDIR');
  return join('/usr/lib/postgresql', versions[0], 'bin');
}

/**
 * A PostgreSQL server of its own (initdb into a temp dir, trust auth, loopback) for a test that
 * restarts it, so the machine's server and every other test on it are left alone. PostgreSQL
 * refuses to run as root, so as root it runs as the `postgres` user.
 */
export class PrivatePostgres {
  private readonly dir = mkdtempSync(join(tmpdir(), 'email-loop-pg-'));
  private readonly data = join(this.dir, 'data');
  port = 0;

  /** With `tls`, the server also accepts TLS (`ssl=on`) with this certificate and key (PEM files). */
  constructor(private readonly options: { tls?: { certFile: string; keyFile: string } } = {}) {}

  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    if (!existsSync(this.data)) {
      if (userInfo().uid === 0) {
        const pgUser = Number(execFileSync('id', ['-u', 'postgres']).toString());
        const pgGroup = Number(execFileSync('id', ['-g', 'postgres']).toString());
        chownSync(this.dir, pgUser, pgGroup);
      }
      this.pg('initdb', ['-D', this.data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    }
    let settings = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    if (this.options.tls) settings += ` ${this.tlsSettings(this.options.tls)}`;
    this.pg('pg_ctl', ['-D', this.data, '-l', join(this.dir, 'server.log'), '-o', settings, '-w', '-t', '60', 'start']);
  }

  /** `fast` = clean shutdown that disconnects clients; `immediate` = a crash (recovery on start). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    this.pg('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  async destroy(): Promise<void> {
    try {
      await this.stop('immediate');
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Copies the certificate and key where the server's user owns them (it refuses a key others can read). */
  private tlsSettings(tls: { certFile: string; keyFile: string }): string {
    const cert = join(this.dir, 'server.crt');
    const key = join(this.dir, 'server.key');
    copyFileSync(tls.certFile, cert);
    copyFileSync(tls.keyFile, key);
    chmodSync(key, 0o600);
    if (userInfo().uid === 0) {
      const pgUser = Number(execFileSync('id', ['-u', 'postgres']).toString());
      const pgGroup = Number(execFileSync('id', ['-g', 'postgres']).toString());
      for (const file of [cert, key]) chownSync(file, pgUser, pgGroup);
    }
    return `-c ssl=on -c ssl_cert_file=${cert} -c ssl_key_file=${key}`;
  }

  private pg(command: string, args: string[]): void {
    const binary = join(binDir(), command);
    const [file, argv] = userInfo().uid === 0 ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
    execFileSync(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}
