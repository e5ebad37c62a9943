export * from './topics.js';
export * from './email-request.js';
export * from './message-content.js';
export * from './email-event.js';
export * from './email-status.js';
export * from './suppression.js';
