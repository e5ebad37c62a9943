import { describe, expect, it } from 'vitest';
import { classifySmtpError } from './smtp.transport.js';
import { SmtpDeferredError, SmtpRejectedError } from './smtp.errors.js';

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
});
