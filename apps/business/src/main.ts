import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DataSource } from 'typeorm';
import { ApiExceptionFilter, closeOnSignals, migrateWithLock, runMain } from '@app/common';
import { PublicListener, applyHttpEdge, listeningUrl } from '@app/edge';
import { KafkaEventsTransport } from '@app/kafka';
import { AppModule } from './app.module.js';
import { loadBusinessConfig } from './config.js';
import { PUBLIC_ROUTES } from './public-routes.js';

runMain('business', async () => {
  const config = loadBusinessConfig();
  // On SIGTERM new requests get 503 (clients retry elsewhere) while in-flight ones finish; kept-alive
  // client connections would otherwise hold the server open past the shutdown deadline.
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forConfig(config), {
    bodyParser: false,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  // Security headers, the public port's gate, CORS: before the body parser and the routes.
  const publicListener = app.get(PublicListener);
  applyHttpEdge(app, { corsOrigins: config.CORS_ORIGINS, publicListener });
  // Room for the largest valid body (text + html limits, or attachments up to the Kafka message
  // limit when KAFKA_MAX_MESSAGE_BYTES is raised for them) and no more.
  app.useBodyParser('json', { limit: Math.max(1_048_576, config.KAFKA_MAX_MESSAGE_BYTES) });
  app.useGlobalFilters(new ApiExceptionFilter());
  closeOnSignals(app, 'business');
  // The Kafka handlers (@KafkaEvent) are served by this transport; app.close() stops it first.
  app.connectMicroservice({ strategy: app.get(KafkaEventsTransport) });
  // Tables first: workers and the relay start in onApplicationBootstrap (init), then the Kafka
  // consumers; both return at once and connect in the background, so the app starts, serves HTTP
  // and reports itself not ready while Kafka is down.
  await migrateWithLock(app.get(DataSource));
  await app.init();
  await app.startAllMicroservices();
  await app.listen(config.BUSINESS_PORT, config.BUSINESS_HOST);
  console.log(`business listening on ${listeningUrl(app.getHttpServer().address())}`);
  // The main port serves the public routes too, so a single-port deployment keeps working.
  const publicUrl = await publicListener.listen();
  if (publicUrl) console.log(`business public listener on ${publicUrl} (only ${PUBLIC_ROUTES.join(', ')})`);
});
