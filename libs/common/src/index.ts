export * from './errors.js';
export * from './validation.js';
export * from './config.js';
export * from './clock.js';
export * from './database.js';
export * from './lifecycle.js';
export * from './api-exception.filter.js';
export * from './database-errors.js';
