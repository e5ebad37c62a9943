import { DeadLetterReplaysRepository } from './dead-letter-replays.repository.js';
import { DeadLettersService } from './dead-letters.service.js';

export { DeadLettersController } from './dead-letters.controller.js';
export { DeadLettersService, DeadLetterNotFoundError, type DeadLetterDetail, type DeadLetterSummary } from './dead-letters.service.js';
export { DeadLetterReplaysRepository, type DeadLetterReplay, type ReplayActor } from './dead-letter-replays.repository.js';
export { CreateDeadLetterReplays1765000000000, DEAD_LETTER_MIGRATIONS } from './dead-letter-replays.migration.js';

/**
 * Providers of {@link DeadLettersController}: register them with it in a module where
 * `@app/kafka`'s `KafkaModule`, `@app/outbox`'s `OutboxModule` and a TypeORM `DataSource` are
 * visible (each app's root module), and add `DEAD_LETTER_MIGRATIONS` to its migrations.
 */
export const DEAD_LETTER_PROVIDERS = [DeadLetterReplaysRepository, DeadLettersService];
