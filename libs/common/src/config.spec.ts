import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configFields, loadConfig } from './config.js';

const schema = z.object({ HOST: configFields.host(), CORS_ORIGINS: configFields.corsOrigins() });
const load = (env: Record<string, string>) => loadConfig(schema, env, 'app');

describe('configFields.host', () => {
  it('binds every interface by default (containers), and takes an IP address or a host name', () => {
    expect(load({}).HOST).toBe('0.0.0.0');
    for (const host of ['127.0.0.1', '::', '::1', '10.0.3.7', 'localhost', 'api.internal', 'node-1.svc.cluster.local']) {
      expect(load({ HOST: host }).HOST).toBe(host);
    }
  });

  it('refuses anything else', () => {
    for (const host of ['', 'http://127.0.0.1', '127.0.0.1:3000', 'a b', '-bad.example', 'host_name']) {
      expect(() => load({ HOST: host }), host).toThrow(/HOST: must be an IP address or a host name/);
    }
  });
});

describe('configFields.corsOrigins', () => {
  it('is off (empty) by default and reads exact origins', () => {
    expect(load({}).CORS_ORIGINS).toEqual([]);
    expect(load({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).CORS_ORIGINS).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
  });

  it('refuses wildcards, paths and trailing slashes', () => {
    for (const origins of ['*', 'https://app.example.com/', 'https://app.example.com/path', 'app.example.com', 'ftp://x.example']) {
      expect(() => load({ CORS_ORIGINS: origins }), origins).toThrow(/CORS_ORIGINS\.0: each must be an origin/);
    }
  });
});
