export { SmtpCapture, type CapturedMail, type RecipientPolicy } from './smtp-capture.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
export { createMigratedDatabase, createTestDatabase, dropMigratedDatabase, dropTestDatabase } from './databases.js';
export { AppProcess, type AppName } from './app-process.js';
export { TcpGate } from './tcp-gate.js';
export { explainWithoutSeqScan, type PlannedQuery } from './query-plans.js';
export { TopicReaders, type ReadMessage } from './topic-readers.js';
export { statementLoggingDataSource } from './statement-log.js';
export { parseMail, verifyDkim, type DkimVerdict } from './mail-inspection.js';
