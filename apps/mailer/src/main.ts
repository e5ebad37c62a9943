import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { ApiExceptionFilter, closeOnSignals, migrateWithLock, runMain } from '@app/common';
import { KafkaEventsTransport } from '@app/kafka';
import { AppModule } from './app.module.js';
import { loadMailerConfig } from './config.js';

runMain('mailer', async () => {
  const config = loadMailerConfig();
  const app = await NestFactory.create(AppModule.forConfig(config), { forceCloseConnections: true });
  app.useGlobalFilters(new ApiExceptionFilter());
  closeOnSignals(app, 'mailer');
  // The Kafka handlers (@KafkaEvent) are served by this transport; app.close() stops it first.
  app.connectMicroservice({ strategy: app.get(KafkaEventsTransport) });
  // Tables first: workers and the relay start in onApplicationBootstrap (init), then the Kafka
  // consumers; both return at once and connect in the background, so the app starts, serves HTTP
  // and reports itself not ready while Kafka is down.
  await migrateWithLock(app.get(DataSource));
  await app.init();
  await app.startAllMicroservices();
  await app.listen(config.MAILER_PORT);
  console.log(`mailer listening on http://127.0.0.1:${config.MAILER_PORT} (health: /health)`);
});
