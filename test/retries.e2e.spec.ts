import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@app/testing';
import { EmailLoopStack } from './stack.js';

/**
 * Retries you can see, through `POST /v1/emails` on the whole loop: each temporary failure is an
 * `email.retrying` event whose `nextAttemptAt` is when the SMTP server really sees the next
 * attempt; the retry window ends in `failed`; a connection the server refuses is retried too.
 *
 * With base 400 ms and equal jitter the delays are 200–400, 400–800, 800–1,600 and 1,600–3,200 ms:
 * attempt 4 always starts within the 3 s window and a 5th never could, so an email refused for
 * good ends after exactly 4 attempts with `retry_window_elapsed`, not `retries_exhausted`.
 */
describe('retries, end to end', () => {
  const stack = new EmailLoopStack();
  /** How late an attempt may reach the server after its announced `nextAttemptAt` (queue pick-up, PostgreSQL, SMTP). */
  const LATENESS_TOLERANCE_MS = 1_500;

  beforeAll(async () => {
    await stack.start({ mailerEnv: { SEND_RETRY_BASE_MS: '400', SEND_MAX_ATTEMPTS: '5', SEND_RETRY_WINDOW_MS: '3000' } });
  });

  afterAll(async () => {
    await stack.stop();
  });

  interface EventView {
    type: string;
    occurredAt: string;
    detail: Record<string, unknown>;
  }

  async function finalView(id: string, status: string): Promise<{ status: string; events: EventView[] }> {
    return waitFor(
      async () => {
        const view = await stack.get(`/v1/emails/${id}`);
        return view.body?.status === status ? view.body : undefined;
      },
      { timeoutMs: 30_000, description: `email ${id} to be ${status}` },
    );
  }

  it('retries 4xx replies at the announced times, with number, code and reply, and sends on the third attempt', async () => {
    const recipient = 'busy@retry.example';
    let refusals = 0;
    stack.smtp.refuseRecipients((address) => (address === recipient && refusals++ < 2 ? { code: 451, message: 'Mailbox busy, try later' } : null));
    const res = await stack.post('/v1/emails', { to: recipient, subject: 'Retry me', text: 'x' });
    expect(res.status).toBe(202);

    const view = await finalView(res.body.id, 'sent');
    const events = view.events.filter((e) => e.type !== 'email.accepted');
    expect(events.map((e) => e.type)).toEqual(['email.retrying', 'email.retrying', 'email.sent']);
    expect(events.map((e) => e.detail.attempt)).toEqual([1, 2, 3]);
    for (const retrying of events.slice(0, 2)) {
      expect(retrying.detail).toMatchObject({ code: 'smtp_deferred', smtpCode: 451, smtpResponse: expect.stringMatching(/^451 .*Mailbox busy/) });
    }

    // The server saw attempt n+1 at the time the retrying event of attempt n announced.
    const arrivals = stack.smtp.recipientLog.filter((r) => r.address === recipient).map((r) => r.at.getTime());
    expect(arrivals).toHaveLength(3);
    for (const [n, retrying] of events.slice(0, 2).entries()) {
      const announced = Date.parse(String(retrying.detail.nextAttemptAt));
      const arrived = arrivals[n + 1]!;
      console.log(`attempt ${n + 2}: announced ${new Date(announced).toISOString()}, reached the SMTP server ${arrived - announced} ms later`);
      expect(arrived).toBeGreaterThanOrEqual(announced - 50); // the queue never runs it early
      expect(arrived - announced).toBeLessThanOrEqual(LATENESS_TOLERANCE_MS);
      // …and the delay grew with jitter inside its step: 200–400 ms, then 400–800 ms after the failure.
      const delay = announced - arrivals[n]!;
      expect(delay).toBeGreaterThanOrEqual(200 * 2 ** n - 50);
    }
  });

  it('ends failed with retry_window_elapsed once no attempt may start within the window, after exactly 4 attempts', async () => {
    const recipient = 'greylisted@retry.example';
    stack.smtp.refuseRecipients((address) => (address === recipient ? { code: 450, message: 'Greylisted, come back later' } : null));
    const res = await stack.post('/v1/emails', { to: recipient, subject: 'Never', text: 'x' });

    const view = await finalView(res.body.id, 'failed');
    const events = view.events.filter((e) => e.type === 'email.retrying' || e.type === 'email.failed');
    expect(events.map((e) => `${e.type}:${String(e.detail.attempt)}`)).toEqual(['email.retrying:1', 'email.retrying:2', 'email.retrying:3', 'email.failed:4']);
    expect(events[3]?.detail).toMatchObject({ code: 'retry_window_elapsed', smtpCode: 450, smtpResponse: expect.stringMatching(/Greylisted/) });
    expect(stack.smtp.recipientLog.filter((r) => r.address === recipient)).toHaveLength(4);
  });

  it('fails a 5xx at once: one attempt, the code and the reply', async () => {
    const recipient = 'nobody@retry.example';
    stack.smtp.refuseRecipients((address) => (address === recipient ? { code: 550, message: 'No such user here' } : null));
    const res = await stack.post('/v1/emails', { to: recipient, subject: 'Gone', text: 'x' });

    const view = await finalView(res.body.id, 'failed');
    expect(view.events.filter((e) => e.type === 'email.retrying')).toEqual([]);
    expect(view.events.find((e) => e.type === 'email.failed')?.detail).toMatchObject({ attempt: 1, code: 'smtp_rejected', smtpCode: 550 });
    expect(stack.smtp.recipientLog.filter((r) => r.address === recipient)).toHaveLength(1);
  });

  it('retries while the SMTP server refuses connections and sends once it is back', async () => {
    stack.smtp.refuseRecipients(() => null);
    await stack.smtpGate.cut();
    const res = await stack.post('/v1/emails', { to: 'later@retry.example', subject: 'Outage', text: 'x' });
    const retrying = await waitFor(
      async () => {
        const view = await stack.get(`/v1/emails/${res.body.id}`);
        return (view.body?.events as EventView[] | undefined)?.find((e) => e.type === 'email.retrying');
      },
      { timeoutMs: 30_000, description: 'a retrying event while the server is away' },
    );
    expect(retrying.detail).toMatchObject({ attempt: 1, code: 'smtp_deferred', nextAttemptAt: expect.any(String) });
    expect(retrying.detail.smtpCode).toBeUndefined();
    await stack.smtpGate.open();
    await finalView(res.body.id, 'sent');
    expect(stack.smtp.mails.filter((m) => m.emailId === res.body.id)).toHaveLength(1);
  });
});
