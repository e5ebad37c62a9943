import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EmailModule, emailMigrations } from '@email-loop/nestjs';
import { OrdersService } from './orders.service.js';

export interface HostConfig {
  databaseUrl: string;
  brokers: string[];
  appName: string;
}

/** Options come from a factory, as a host with a ConfigService would provide them. */
@Module({})
export class AppModule {
  static forConfig(config: HostConfig) {
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: config.databaseUrl, migrations: emailMigrations(), migrationsRun: true }),
        EmailModule.forRootAsync({
          useFactory: () => ({ appName: config.appName, databaseUrl: config.databaseUrl, kafka: { brokers: config.brokers } }),
        }),
      ],
      providers: [OrdersService],
    };
  }
}
