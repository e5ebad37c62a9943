import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { OrdersService } from './orders.service.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const app = await NestFactory.create(AppModule.forConfig(config), { logger: ['error', 'warn', 'log'] });
app.enableShutdownHooks();
await app.init();

const orders = app.get(OrdersService);
await orders.place('order-1', 'buyer@example.test');
await orders.place('order-2', 'rolled-back@example.test', true).catch((error: Error) => console.log(`refused: ${error.message}`));
console.log('HOST READY');
