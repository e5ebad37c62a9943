import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TerminusModule } from '@nestjs/terminus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxStatsReader } from '@app/outbox';
import { dependencyProbes, type DependencyProbe } from './dependency-probe.js';
import { HealthController } from './health.controller.js';

/** What drivers say when they fail: hosts, ports, users, whole connection strings. */
const DRIVER_MESSAGE = 'connect ECONNREFUSED 10.1.2.3:5432 (postgres://app:db-pass-123@db.internal:5432/business)';

@Injectable()
class DownProbe implements DependencyProbe {
  readonly name = 'database';
  async probe(): Promise<void> {
    throw new Error(DRIVER_MESSAGE);
  }
}

@Injectable()
class UpProbe implements DependencyProbe {
  readonly name = 'kafka';
  async probe(): Promise<Record<string, unknown>> {
    return { consumers: 2, broker: 'kafka.internal:9092' };
  }
}

describe('HealthController: states and counts only', () => {
  let app: INestApplication;
  let baseUrl = '';

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
      providers: [
        ...dependencyProbes([DownProbe, UpProbe]),
        // A stand-in for the outbox's statistics (their SQL is tested in libs/outbox): this test is about the body.
        { provide: OutboxStatsReader, useValue: { read: async () => ({ pending: 3, oldestPendingAgeSeconds: 1.5, retrying: 1, deadLettered: 0 }) } },
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    baseUrl = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('GET /health says which dependency is down, not why', async () => {
    const res = await fetch(`${baseUrl}/health`);
    const text = await res.text();
    expect(res.status).toBe(200);
    for (const leak of ['10.1.2.3', 'db.internal', 'db-pass-123', 'ECONNREFUSED', 'kafka.internal', 'responseTime']) expect(text).not.toContain(leak);
    expect(JSON.parse(text)).toEqual({
      status: 'ok',
      ready: false,
      dependencies: { database: { status: 'down', reason: 'unavailable' }, kafka: { status: 'up', consumers: 2 } },
      outbox: { pending: 3, oldestPendingAgeSeconds: 1.5, retrying: 1, deadLettered: 0 },
    });
  });

  it('GET /health/ready: 503 with the same states, nothing more', async () => {
    const res = await fetch(`${baseUrl}/health/ready`);
    const text = await res.text();
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    for (const leak of ['10.1.2.3', 'db.internal', 'db-pass-123', 'ECONNREFUSED', 'kafka.internal']) expect(text).not.toContain(leak);
    expect(JSON.parse(text)).toEqual({
      status: 'error',
      info: { kafka: { status: 'up', consumers: 2 } },
      error: { database: { status: 'down', reason: 'unavailable' } },
      details: { database: { status: 'down', reason: 'unavailable' }, kafka: { status: 'up', consumers: 2 } },
    });
  });
});
