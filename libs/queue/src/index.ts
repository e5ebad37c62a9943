export { QueueDeadline, QueueUnavailableError, QUEUE_OPERATION_DEADLINE_MS, UNREACHABLE_BACKOFF_MS } from './queue-deadline.js';
export { bullConnection, ensureJob, type EnsureJobOutcome } from './ensure-job.js';
export { SweepLoop } from './sweep-loop.js';
export { JobSweeper } from './job-sweeper.js';
export { redisOptions, type RedisEndpoint, type RedisTlsSettings } from './redis-connection.js';
