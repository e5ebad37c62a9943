import { describe, expect, it } from 'vitest';
import { EMAIL_EVENT_TYPES } from './email-event.js';
import { EMAIL_STATUSES, STATUS_OF_EVENT, isForwardTransition, type EmailStatus } from './email-status.js';

const at = (status: EmailStatus, attempt = 0) => ({ status, attempt });

describe('isForwardTransition', () => {
  it.each([
    [at('queued'), at('accepted'), true],
    [at('queued'), at('sent', 1), true], // events can arrive out of order; skipping ahead is fine
    [at('accepted'), at('retrying', 1), true],
    [at('retrying', 1), at('retrying', 2), true],
    [at('retrying', 1), at('sent', 2), true],
    [at('retrying', 3), at('failed', 3), true],
    [at('retrying', 1), at('unknown', 2), true],
    [at('unknown', 2), at('sent', 2), true], // reconciled: it was delivered
    [at('unknown', 2), at('sent', 3), true], // reconciled: resent
    [at('unknown', 2), at('failed', 2), true],
    [at('accepted'), at('scheduled'), true],
    [at('scheduled'), at('retrying', 1), true],
    [at('scheduled'), at('canceled'), true],
    [at('retrying', 1), at('canceled', 1), true],
    [at('accepted'), at('rejected'), true],
    [at('queued'), at('suppressed'), true],
    [at('accepted'), at('deduplicated'), true],
  ])('%o → %o moves forward', (from, to, expected) => {
    expect(isForwardTransition(from, to)).toBe(expected);
  });

  it.each([
    [at('accepted'), at('queued')],
    [at('accepted'), at('accepted')],
    [at('retrying', 2), at('retrying', 1)],
    [at('retrying', 2), at('retrying', 2)],
    [at('sent', 1), at('accepted')],
    [at('sent', 1), at('failed', 1)],
    [at('failed', 1), at('sent', 2)],
    [at('expired'), at('sent', 1)],
    [at('unknown', 2), at('retrying', 2)],
    [at('unknown', 2), at('retrying', 3)],
    [at('sent', 2), at('unknown', 2)],
    [at('retrying', 1), at('scheduled')],
    [at('canceled'), at('retrying', 1)],
    [at('sent', 1), at('canceled')],
    [at('rejected'), at('sent', 1)],
    [at('suppressed'), at('failed', 1)],
  ])('%o → %o is ignored (late, repeated or after a final state)', (from, to) => {
    expect(isForwardTransition(from, to)).toBe(false);
  });
});

describe('the event types', () => {
  it('promise no email.sending: the start of an attempt is not published, so it is neither an event nor a status', () => {
    expect(EMAIL_EVENT_TYPES).not.toContain('email.sending');
    expect(EMAIL_STATUSES).not.toContain('sending');
    // Every status but `queued` (the business side's own) is reached by an event.
    expect(new Set(Object.values(STATUS_OF_EVENT))).toEqual(new Set(EMAIL_STATUSES.filter((status) => status !== 'queued')));
  });
});
