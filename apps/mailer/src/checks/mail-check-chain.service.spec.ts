import { describe, expect, it } from 'vitest';
import type { EntityManager } from 'typeorm';
import { CONTRACT_VERSION, type EmailRequestedMessage } from '@app/contracts';
import type { CheckBatch, CheckVerdict, MailCheck } from './mail-check.js';
import { MailCheckChain } from './mail-check-chain.service.js';

const request = (subject: string): EmailRequestedMessage => ({
  version: CONTRACT_VERSION,
  type: 'email.requested',
  emailId: '00000000-0000-4000-8000-000000000000',
  requestedAt: '2026-11-24T10:00:00Z',
  lane: 'transactional',
  to: ['a@example.com'],
  subject,
  text: 'x',
});

/** A check that ends the requests whose subject it names, and remembers what it was shown. */
class EndsSubject implements MailCheck {
  readonly seen: string[][] = [];

  constructor(
    readonly name: string,
    private readonly subjects: string[],
  ) {}

  async check({ requests }: CheckBatch): Promise<(CheckVerdict | null)[]> {
    this.seen.push(requests.map((r) => r.subject));
    return requests.map((r) => (this.subjects.includes(r.subject) ? { status: 'rejected', code: this.name, reason: r.subject } : null));
  }
}

describe('MailCheckChain', () => {
  const manager = {} as EntityManager;
  const now = new Date();

  it('runs the checks in order, each on what the earlier ones passed; the first verdict wins', async () => {
    const first = new EndsSubject('first', ['b', 'c']);
    const second = new EndsSubject('second', ['c', 'd']);
    const verdicts = await new MailCheckChain([first, second]).run(['a', 'b', 'c', 'd'].map(request), manager, now);
    expect(verdicts.map((v) => v?.code ?? null)).toEqual([null, 'first', 'first', 'second']);
    expect(second.seen).toEqual([['a', 'd']]);
  });

  it('stops calling checks once nothing is left, and calls none for an empty batch', async () => {
    const all = new EndsSubject('all', ['a']);
    const never = new EndsSubject('never', []);
    await new MailCheckChain([all, never]).run([request('a')], manager, now);
    await new MailCheckChain([all, never]).run([], manager, now);
    expect(never.seen).toEqual([]);
  });

  it('refuses a check that does not answer for every request', async () => {
    const broken: MailCheck = { name: 'broken', check: async () => [] };
    await expect(new MailCheckChain([broken]).run([request('a')], manager, now)).rejects.toThrow(/broken returned 0 verdicts for 1/);
  });
});
