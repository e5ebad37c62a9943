import { describe, expect, it } from 'vitest';
import { requestHash } from './request-hash.js';

describe('requestHash', () => {
  const base = { to: ['a@example.com'], subject: 'Hi', text: 'x', lane: 'transactional' as const };

  it('ignores property order', () => {
    expect(requestHash({ subject: 'Hi', lane: 'transactional', text: 'x', to: ['a@example.com'] })).toBe(requestHash(base));
  });

  it('changes with any field', () => {
    expect(requestHash({ ...base, subject: 'Hello' })).not.toBe(requestHash(base));
    expect(requestHash({ ...base, to: ['b@example.com'] })).not.toBe(requestHash(base));
    expect(requestHash({ ...base, metadata: { k: 'v' } })).not.toBe(requestHash(base));
  });
});
