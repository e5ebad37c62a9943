export * from './scopes.js';
export * from './api-key.principal.js';
export * from './auth.decorators.js';
export { API_KEY_PREFIX, MIN_BOOTSTRAP_KEY_LENGTH, generateApiKey, hashApiKey } from './api-key.secret.js';
export { API_KEY_MIGRATIONS, CreateApiKeys1763900000900 } from './api-keys.migration.js';
export { ApiKeysModule } from './api-keys.module.js';
export { DEFAULT_KEY_CACHE_TTL_MS, type ApiKeysModuleOptions } from './api-keys.options.js';
export { bootstrapApiKeysSchema } from './bootstrap-keys.config.js';
export { ApiKeyGuard } from './api-key.guard.js';
