import { Injectable } from '@nestjs/common';
import type { EmailRequestedMessage } from '@app/contracts';
import type { CheckBatch, CheckVerdict, MailCheck } from './mail-check.js';

// CR or LF ends a header line: in a header-bound value it lets the sender add headers (Bcc:) or a body.
const LINE_BREAK = /[\r\n]/;

/**
 * Defence in depth against header injection: the contract's schema already refuses CR/LF in the
 * subject and the addresses, but the mailer must not rely on every producer validating. Looks at
 * every value that ends up in a header, including fields that later versions add (`from`,
 * `headers`), by name, so a new header-bound field is covered the day it arrives.
 */
@Injectable()
export class HeaderInjectionCheck implements MailCheck {
  readonly name = 'header_injection';

  async check({ requests }: CheckBatch): Promise<(CheckVerdict | null)[]> {
    return requests.map((request) => {
      const field = injectedField(request);
      return field === undefined
        ? null
        : { status: 'rejected', code: 'header_injection', reason: `${field} contains a line break (CR or LF), which could inject headers` };
    });
  }
}

function injectedField(request: EmailRequestedMessage): string | undefined {
  const loose = request as unknown as Record<string, unknown>;
  const values: [string, unknown][] = [
    ['subject', request.subject],
    ['to', request.to],
    ['cc', request.cc],
    ['bcc', request.bcc],
    ['replyTo', request.replyTo],
    ['from', loose.from],
    ['category', request.category],
  ];
  const headers = loose.headers;
  if (headers !== null && typeof headers === 'object') {
    for (const [name, value] of Object.entries(headers)) values.push([`headers.${name}`, [name, value]]);
  }
  return values.find(([, value]) => hasLineBreak(value))?.[0];
}

function hasLineBreak(value: unknown): boolean {
  if (typeof value === 'string') return LINE_BREAK.test(value);
  if (Array.isArray(value)) return value.some(hasLineBreak);
  return false;
}
