export { RetentionJob, daysToMs, type RetentionPolicy, type RetentionSchedule } from './retention-job.js';
export { RetentionService } from './retention.service.js';
