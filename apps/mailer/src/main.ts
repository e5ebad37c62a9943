import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { ApiExceptionFilter, closeOnSignals, migrateWithLock, runMain } from '@app/common';
import { AppModule } from './app.module.js';
import { loadMailerConfig } from './config.js';

runMain('mailer', async () => {
  const config = loadMailerConfig();
  const app = await NestFactory.create(AppModule.forConfig(config), { forceCloseConnections: true });
  app.useGlobalFilters(new ApiExceptionFilter());
  closeOnSignals(app, 'mailer');
  // Before listen(): consumers, workers and the relay start in onApplicationBootstrap.
  await migrateWithLock(app.get(DataSource));
  await app.listen(config.MAILER_PORT);
  console.log(`mailer listening on http://127.0.0.1:${config.MAILER_PORT} (health: /health)`);
});
