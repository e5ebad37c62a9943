import { DataSource, type Logger } from 'typeorm';

/**
 * A DataSource on `url` that records every statement it sends, in order: for tests that pin how
 * many round trips an operation costs. `statements` starts empty once the DataSource is ready.
 */
export async function statementLoggingDataSource(url: string): Promise<{ dataSource: DataSource; statements: string[] }> {
  const statements: string[] = [];
  const logger: Logger = {
    logQuery: (query) => void statements.push(query.trim()),
    logQueryError: () => undefined,
    logQuerySlow: () => undefined,
    logSchemaBuild: () => undefined,
    logMigration: () => undefined,
    log: () => undefined,
  };
  const dataSource = new DataSource({ type: 'postgres', url, logger });
  await dataSource.initialize();
  statements.length = 0; // what initialize() asked the server
  return { dataSource, statements };
}
