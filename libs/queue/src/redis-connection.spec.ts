import { describe, expect, it } from 'vitest';
import { redisOptions } from './redis-connection.js';

describe('redisOptions', () => {
  it('takes host, port, percent-encoded credentials and database from the URL', () => {
    expect(redisOptions('redis://app:p%40ss%2Fword@redis.internal:6380/2')).toEqual({
      host: 'redis.internal',
      port: 6380,
      username: 'app',
      password: 'p@ss/word',
      db: 2,
    });
    expect(redisOptions('redis://:only-password@127.0.0.1')).toEqual({ host: '127.0.0.1', port: 6379, password: 'only-password' });
  });

  it('speaks TLS for rediss://, with the private CA when given', () => {
    expect(redisOptions('rediss://redis.example:6380')).toMatchObject({ tls: {} });
    expect(redisOptions('rediss://redis.example:6380', { tlsCa: 'CA PEM' })).toMatchObject({ tls: { ca: 'CA PEM' } });
    expect(redisOptions('redis://redis.example')).not.toHaveProperty('tls');
  });
});
