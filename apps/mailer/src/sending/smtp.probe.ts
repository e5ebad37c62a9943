import { Injectable } from '@nestjs/common';
import type { DependencyProbe } from '@app/health';
import { SmtpTransport } from './smtp.transport.js';

/** The SMTP server accepts a connection and a greeting (and the credentials, if any). */
@Injectable()
export class SmtpProbe implements DependencyProbe {
  readonly name = 'smtp';

  constructor(private readonly smtp: SmtpTransport) {}

  async probe(): Promise<void> {
    await this.smtp.verify();
  }
}
