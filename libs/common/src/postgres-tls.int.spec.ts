import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { makeTestCertificates, type TestCertificates } from '@app/testing';
import { PrivatePostgres } from '../../../test/infra/private-postgres.js';
import { configFields } from './config.js';

/**
 * PostgreSQL over TLS as the apps configure it: everything is in `*_DATABASE_URL`
 * (`sslmode=verify-full&sslrootcert=<private CA>`), read by node-postgres under TypeORM.
 */
describe('PostgreSQL over TLS with a private CA (private PostgreSQL)', () => {
  let certs: TestCertificates;
  let server: PrivatePostgres;

  beforeAll(async () => {
    certs = makeTestCertificates();
    server = new PrivatePostgres({ tls: { certFile: certs.certFile, keyFile: certs.keyFile } });
    await server.start();
  }, 120_000);

  afterAll(async () => {
    await server?.destroy();
    certs?.remove();
  });

  const url = (host: string, params: string): string => configFields.postgresUrl().parse(`postgres://postgres@${host}:${server.port}/postgres?${params}`);

  /** Whether this connection is encrypted, as the server sees it. */
  async function sessionIsTls(connectionString: string): Promise<boolean> {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5_000 });
    await client.connect();
    try {
      const { rows } = await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      return rows[0]!.ssl;
    } finally {
      await client.end();
    }
  }

  it('connects with verify-full against the private CA, by name and by address, through TypeORM as the apps do', async () => {
    expect(await sessionIsTls(url('localhost', `sslmode=verify-full&sslrootcert=${certs.caFile}`))).toBe(true);
    expect(await sessionIsTls(url('127.0.0.1', `sslmode=verify-full&sslrootcert=${certs.caFile}`))).toBe(true);
    const dataSource = new DataSource({ type: 'postgres', url: url('localhost', `sslmode=verify-full&sslrootcert=${certs.caFile}`) });
    await dataSource.initialize();
    try {
      const rows: { ssl: boolean }[] = await dataSource.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(rows[0]!.ssl).toBe(true);
    } finally {
      await dataSource.destroy();
    }
  });

  it('refuses the server when its CA is not the one trusted (none given: the system CAs; or another CA)', async () => {
    await expect(sessionIsTls(url('localhost', 'sslmode=verify-full'))).rejects.toThrow(/certificate|self[- ]signed|verify/i);
    await expect(sessionIsTls(url('localhost', `sslmode=verify-full&sslrootcert=${certs.otherCaFile}`))).rejects.toThrow(/certificate|self[- ]signed|verify/i);
  });

  it('without sslmode the connection is plaintext (what TLS settings must change)', async () => {
    expect(await sessionIsTls(url('localhost', 'application_name=plain'))).toBe(false);
  });

  it('refuses at start-up a CA file it cannot read, naming the path and not the password', () => {
    const result = configFields.postgresUrl().safeParse(`postgres://app:pg-secret@localhost:5432/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem`);
    expect(result.success).toBe(false);
    const messages = JSON.stringify(result.error!.issues.map((i) => i.message));
    expect(messages).toContain('/nonexistent/ca.pem');
    expect(messages).not.toContain('pg-secret');
  });
});
