import { describe, expect, it } from 'vitest';
import { classifySmtpError } from './smtp.transport.js';
import { SmtpDeferredError, SmtpRejectedError, SmtpUnconfirmedError } from './smtp.errors.js';

const smtpError = (fields: Record<string, unknown>): Error => Object.assign(new Error('smtp'), fields);

describe('classifySmtpError', () => {
  it('treats a 5xx reply as permanent', () => {
    const error = classifySmtpError(smtpError({ code: 'EENVELOPE', responseCode: 550, response: '550 no such user' }));
    expect(error).toBeInstanceOf(SmtpRejectedError);
    expect(error).toMatchObject({ smtpCode: 550, smtpResponse: '550 no such user', retriable: false });
  });

  it('treats 4xx and 503 as temporary', () => {
    expect(classifySmtpError(smtpError({ responseCode: 451 }))).toBeInstanceOf(SmtpDeferredError);
    expect(classifySmtpError(smtpError({ responseCode: 421 }))).toBeInstanceOf(SmtpDeferredError);
    expect(classifySmtpError(smtpError({ responseCode: 503 }))).toBeInstanceOf(SmtpDeferredError);
  });

  it('follows nodemailer’s own permanent flag when present', () => {
    expect(classifySmtpError(smtpError({ responseCode: 554, permanent: false }))).toBeInstanceOf(SmtpDeferredError);
  });

  it('retries connection failures and credential problems, which say nothing about the message', () => {
    expect(classifySmtpError(smtpError({ code: 'ECONNECTION' }))).toBeInstanceOf(SmtpDeferredError);
    expect(classifySmtpError(smtpError({ code: 'EAUTH', responseCode: 535 }))).toBeInstanceOf(SmtpDeferredError);
    expect(classifySmtpError(new Error('socket hang up'))).toBeInstanceOf(SmtpDeferredError);
  });

  it('calls a failure with no reply after the whole message was written unconfirmed, never a plain retry', () => {
    const written = { messageWritten: true };
    // nodemailer reports a timeout or a drop as `command: 'CONN'` whatever step was in flight.
    const timeout = classifySmtpError(smtpError({ code: 'ETIMEDOUT', command: 'CONN' }), written);
    expect(timeout).toBeInstanceOf(SmtpUnconfirmedError);
    expect(timeout).toMatchObject({ code: 'smtp_unconfirmed', retriable: false, smtpCode: undefined });
    expect(classifySmtpError(smtpError({ code: 'ECONNECTION', command: 'CONN' }), written)).toBeInstanceOf(SmtpUnconfirmedError);
    // Before the end of data, the same failure is a deferral.
    expect(classifySmtpError(smtpError({ code: 'ETIMEDOUT', command: 'CONN' }), { messageWritten: false })).toBeInstanceOf(SmtpDeferredError);
  });

  it('classifies a reply to the final dot by its code, as any other reply', () => {
    const written = { messageWritten: true };
    expect(classifySmtpError(smtpError({ code: 'EMESSAGE', command: 'DATA', responseCode: 451 }), written)).toBeInstanceOf(SmtpDeferredError);
    expect(classifySmtpError(smtpError({ code: 'EMESSAGE', command: 'DATA', responseCode: 554 }), written)).toBeInstanceOf(SmtpRejectedError);
  });
});
