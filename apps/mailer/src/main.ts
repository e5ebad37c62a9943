import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { migrateWithLock } from '@app/common';
import { AppModule } from './app.module.js';
import { loadMailerConfig } from './config.js';

const config = loadMailerConfig();
const app = await NestFactory.create(AppModule.forConfig(config));
app.enableShutdownHooks();
await migrateWithLock(app.get(DataSource));
await app.listen(config.MAILER_PORT);
console.log(`mailer listening on http://127.0.0.1:${config.MAILER_PORT} (health: /health)`);
