export * from './scopes.js';
export * from './api-key.principal.js';
export * from './auth.decorators.js';
