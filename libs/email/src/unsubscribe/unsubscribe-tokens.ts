import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { categorySchema, emailAddressSchema } from '@app/contracts';

/**
 * What an unsubscribe link stands for: the email it came in and its category, and the recipient
 * when the email had exactly one `to` address. Without `address` the link covers every `to`
 * address of the email, looked up when it is used: one message carries one `List-Unsubscribe`
 * header for all its recipients, so per-recipient links are impossible in it.
 */
export interface UnsubscribeLink {
  emailId: string;
  address?: string;
  category?: string;
}

/** The signed payload, with short keys: the token travels in a header of every bulk email. */
const payloadSchema = z.strictObject({
  e: z.uuid(),
  a: emailAddressSchema.optional(),
  c: categorySchema.optional(),
});

/** Domain separation: a MAC made for anything else with the same secret never verifies here. */
const SIGNING_CONTEXT = 'email-loop.unsubscribe.v1.';
/** A token is `<payload>.<signature>`, both base64url; a longer one is refused before any work. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,1000}\.[A-Za-z0-9_-]{43}$/;
/** Shorter secrets are refused: the MAC is only as strong as its key. */
export const MIN_UNSUBSCRIBE_SECRET_LENGTH = 32;

/**
 * Signs and verifies unsubscribe tokens with HMAC-SHA256 (node:crypto: a MAC over a short
 * payload needs no library; a JWT library would add a header and an algorithm field the link
 * has no use for, and make every link longer). Tokens never expire on purpose: a recipient may
 * unsubscribe from a newsletter months after it arrived. The first secret signs; every secret
 * verifies, so a rotated secret keeps the links already sent working.
 *
 * Invariant: `verify()` returns a link only for a token signed with one of the secrets, compared
 * in constant time, whose payload is valid; anything else is `null`.
 */
export class UnsubscribeTokens {
  private readonly secrets: readonly Buffer[];

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('UnsubscribeTokens: at least one secret is required');
    for (const secret of secrets) {
      if (secret.length < MIN_UNSUBSCRIBE_SECRET_LENGTH) {
        throw new Error(`UnsubscribeTokens: every secret must be at least ${MIN_UNSUBSCRIBE_SECRET_LENGTH} characters`);
      }
    }
    this.secrets = secrets.map((s) => Buffer.from(s, 'utf8'));
  }

  sign(link: UnsubscribeLink): string {
    const payload = payloadSchema.parse({
      e: link.emailId,
      ...(link.address !== undefined && { a: link.address }),
      ...(link.category !== undefined && { c: link.category }),
    });
    const encoded = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
    return `${encoded}.${this.mac(this.secrets[0] as Buffer, encoded).toString('base64url')}`;
  }

  verify(token: string): UnsubscribeLink | null {
    if (!TOKEN_PATTERN.test(token)) return null;
    const [encoded, signature] = token.split('.') as [string, string];
    // The encoded text is compared, not the decoded bytes: base64url's last character has spare
    // bits, so several strings decode to the same MAC, and only the canonical one is ours.
    const given = Buffer.from(signature, 'ascii');
    // Every secret is tried (no early exit), so timing says nothing about which one matched.
    let valid = false;
    for (const secret of this.secrets) {
      const expected = Buffer.from(this.mac(secret, encoded).toString('base64url'), 'ascii');
      valid = timingSafeEqual(expected, given) || valid;
    }
    if (!valid) return null;
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    } catch {
      return null; // signed by us, so never expected; refused all the same
    }
    const parsed = payloadSchema.safeParse(json);
    if (!parsed.success) return null;
    const { e, a, c } = parsed.data;
    return { emailId: e, ...(a !== undefined && { address: a }), ...(c !== undefined && { category: c }) };
  }

  private mac(secret: Buffer, encodedPayload: string): Buffer {
    return createHmac('sha256', secret).update(SIGNING_CONTEXT).update(encodedPayload).digest();
  }
}
