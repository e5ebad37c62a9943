import type { EmailUnsubscribeOptions } from '../email.options.js';
import { UnsubscribeTokens, type UnsubscribeLink } from './unsubscribe-tokens.js';

/**
 * The unsubscribe URLs of bulk mail: `urlPrefix` + a signed token. Pure (a secret and a prefix),
 * so `EmailClient` and `UnsubscribeService` each build one from the module's options.
 */
export class UnsubscribeLinks {
  private readonly tokens: UnsubscribeTokens;

  constructor(private readonly options: EmailUnsubscribeOptions) {
    this.tokens = new UnsubscribeTokens([options.secret, ...(options.previousSecrets ?? [])]);
  }

  /**
   * The link of one email. It names the recipient only when the email has exactly one `to`
   * address; with several, one `List-Unsubscribe` header serves them all, so the link names the
   * email and the unsubscribe applies to all of its `to` addresses (never to `cc`/`bcc`, who did
   * not get the mail as its addressees).
   */
  urlFor(email: { emailId: string; to: readonly string[]; category?: string | undefined }): string {
    const [only, ...others] = email.to;
    const token = this.tokens.sign({
      emailId: email.emailId,
      ...(only !== undefined && others.length === 0 && { address: only }),
      ...(email.category !== undefined && { category: email.category }),
    });
    return `${this.options.urlPrefix}${token}`;
  }

  /** The link a token stands for, or null when it is not one of ours (forged, tampered, truncated). */
  verify(token: string): UnsubscribeLink | null {
    return this.tokens.verify(token);
  }
}
