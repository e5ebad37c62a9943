import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Global, Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { sleep } from '@app/common';
import { createMigratedDatabase, dropMigratedDatabase, waitFor } from '@app/testing';
import { OUTBOX_MIGRATIONS, OutboxModule, OutboxWriter } from './index.js';
import type { OutboxMessage, OutboxPublisher } from './outbox-publisher.js';

@Injectable()
class RecordingPublisher implements OutboxPublisher {
  readonly keys: string[] = [];
  publish(messages: readonly OutboxMessage[]): Promise<void> {
    this.keys.push(...messages.map((m) => m.key));
    return Promise.resolve();
  }
}

/** The module as an app wires it: the writer's commits wake the module's relay. */
describe('OutboxModule (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;
  let app: INestApplicationContext;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('outbox_module_int', OUTBOX_MIGRATIONS));
    // What `TypeOrmModule.forRoot` gives an app: a global DataSource.
    @Global()
    @Module({ providers: [{ provide: DataSource, useValue: dataSource }], exports: [DataSource] })
    class DatabaseModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [DatabaseModule, OutboxModule.forRoot({ relay: { pollIntervalMs: 120_000 }, publisher: RecordingPublisher })],
    }).compile();
    app = await moduleRef.init();
    await sleep(300); // the relay's start-up round is over: it waits for a commit or its 120 s poll
  });

  afterAll(async () => {
    await app?.close();
    await dropMigratedDatabase(dataSource, url);
  });

  it('publishes what a transaction wrote through the injected writer as soon as it commits', async () => {
    const publisher = app.get(RecordingPublisher, { strict: false });
    await dataSource.transaction((m) => app.get(OutboxWriter, { strict: false }).add(m, [{ topic: 't', key: 'wired', payload: {} }]));
    await waitFor(() => publisher.keys.includes('wired') || undefined, { timeoutMs: 10_000, description: 'the row published' });
    expect(publisher.keys).toEqual(['wired']);
  });
});
