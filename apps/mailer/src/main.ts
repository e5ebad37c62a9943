import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { ApiExceptionFilter, closeOnSignals, migrateWithLock, runMain } from '@app/common';
import { applyHttpEdge, listeningUrl } from '@app/edge';
import { KafkaEventsTransport } from '@app/kafka';
import { AppModule } from './app.module.js';
import { loadMailerConfig } from './config.js';

runMain('mailer', async () => {
  const config = loadMailerConfig();
  const app = await NestFactory.create(AppModule.forConfig(config), { forceCloseConnections: true });
  // Security headers and CORS, before the body parser (registered by init()) and the routes.
  applyHttpEdge(app, { corsOrigins: config.CORS_ORIGINS });
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
  await app.listen(config.MAILER_PORT, config.MAILER_HOST);
  console.log(`mailer listening on ${listeningUrl(app.getHttpServer().address())} (health: /health)`);
});
