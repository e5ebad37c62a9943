import { describe, expect, it } from 'vitest';
import { CONTRACT_VERSION, type EmailCancelRequestedMessage, type EmailRequestedMessage, type MailRequestsTopicMessage } from '@app/contracts';
import type { HandlerOutcome } from '@app/kafka';
import { MailRequestsController } from './mail-requests.controller.js';
import type { MailCancelsService } from './mail-cancels.service.js';
import type { MailRequestsService } from './mail-requests.service.js';

/** How a run that mixes requests and cancels is split between the two services and put back in order (pure logic: the services are stand-ins). */
describe('MailRequestsController', () => {
  const request = (emailId: string): EmailRequestedMessage => ({
    version: CONTRACT_VERSION,
    type: 'email.requested',
    emailId,
    requestedAt: '2026-11-24T10:00:00.000Z',
    lane: 'transactional',
    to: ['a@example.com'],
    subject: 'Hi',
    text: 'x',
  });
  const cancel = (emailId: string): EmailCancelRequestedMessage => ({
    version: CONTRACT_VERSION,
    type: 'email.cancel_requested',
    emailId,
    lane: 'transactional',
    requestedAt: '2026-11-24T10:00:01.000Z',
  });

  function controller(calls: string[]): MailRequestsController {
    const requests = {
      acceptBatch: async (batch: readonly EmailRequestedMessage[]): Promise<HandlerOutcome[]> => {
        calls.push(`accept ${batch.map((m) => m.emailId).join(',')}`);
        return batch.map(() => 'processed');
      },
      // A mixed run: requests and cancels in one transaction, the cancels applied after the requests.
      acceptRun: async (
        batch: readonly EmailRequestedMessage[],
        cancelled: readonly EmailCancelRequestedMessage[],
      ): Promise<{ requests: HandlerOutcome[]; cancels: HandlerOutcome[] }> => {
        calls.push(`accept ${batch.map((m) => m.emailId).join(',')}`, `cancel ${cancelled.map((m) => m.emailId).join(',')}`);
        return { requests: batch.map(() => 'processed'), cancels: cancelled.map(() => 'skipped') };
      },
    } as unknown as MailRequestsService;
    const cancels = {
      cancelBatch: async (batch: readonly EmailCancelRequestedMessage[]): Promise<HandlerOutcome[]> => {
        calls.push(`cancel ${batch.map((m) => m.emailId).join(',')}`);
        return batch.map(() => 'skipped');
      },
    } as unknown as MailCancelsService;
    return new MailRequestsController(requests, cancels);
  }

  it('accepts the requests of a run first, then applies its cancels, and answers in the run’s order', async () => {
    const calls: string[] = [];
    const run: MailRequestsTopicMessage[] = [request('a'), cancel('a'), request('b'), cancel('c')];
    expect(await controller(calls).acceptTransactional(run)).toEqual(['processed', 'skipped', 'processed', 'skipped']);
    expect(calls).toEqual(['accept a,b', 'cancel a,c']);
  });

  it('hands a run without cancels to acceptBatch alone', async () => {
    const calls: string[] = [];
    expect(await controller(calls).acceptBulk([request('a'), request('b')])).toEqual(['processed', 'processed']);
    expect(calls).toEqual(['accept a,b']);
  });
});
