import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DataSource } from 'typeorm';
import { ApiExceptionFilter, closeOnSignals, migrateWithLock, runMain } from '@app/common';
import { AppModule } from './app.module.js';
import { loadBusinessConfig } from './config.js';

runMain('business', async () => {
  const config = loadBusinessConfig();
  // On SIGTERM new requests get 503 (clients retry elsewhere) while in-flight ones finish; kept-alive
  // client connections would otherwise hold the server open past the shutdown deadline.
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forConfig(config), {
    bodyParser: false,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  // Room for the largest valid body (text + html limits) and no more.
  app.useBodyParser('json', { limit: '1mb' });
  app.useGlobalFilters(new ApiExceptionFilter());
  closeOnSignals(app, 'business');
  // Before listen(): the relay and consumers start in onApplicationBootstrap and need the tables.
  await migrateWithLock(app.get(DataSource));
  await app.listen(config.BUSINESS_PORT);
  console.log(`business listening on http://127.0.0.1:${config.BUSINESS_PORT}`);
});
