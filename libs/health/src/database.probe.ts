import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { DependencyProbe } from './dependency-probe.js';

/** PostgreSQL answers a trivial query. */
@Injectable()
export class DatabaseProbe implements DependencyProbe {
  readonly name = 'database';

  constructor(private readonly dataSource: DataSource) {}

  async probe(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }
}
