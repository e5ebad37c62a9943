import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { KafkaEventsTransport } from '@email-loop/nestjs';
import { AppModule } from './app.module.js';
import { OrdersService } from './orders.service.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const app = await NestFactory.create(AppModule.forConfig(config), { logger: ['error', 'warn', 'log'] });
app.enableShutdownHooks();
// The module's status events arrive through this transport; without it no event is applied.
app.connectMicroservice({ strategy: app.get(KafkaEventsTransport) });
await app.init();
await app.startAllMicroservices();

const orders = app.get(OrdersService);
await orders.place('order-1', 'buyer@example.test');
await orders.place('order-2', 'rolled-back@example.test', true).catch((error: Error) => console.log(`refused: ${error.message}`));
console.log('HOST READY');
