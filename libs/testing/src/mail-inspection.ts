import { simpleParser, type ParsedMail } from 'mailparser';
import { dkimVerify } from 'mailauth';

/**
 * Reads a message as a mail client would (mailparser): decoded attachments, headers, addresses.
 * Tests assert on this, not on the raw text, so that an encoding choice of nodemailer (folding,
 * quoted-printable, base64) does not decide whether a test passes.
 */
export function parseMail(raw: string): Promise<ParsedMail> {
  return simpleParser(raw);
}

export interface DkimVerdict {
  /** `pass`, `fail`, `neutral`, `none`… as mailauth reports it for the first signature. */
  result: string;
  /** `d=` of the signature. */
  domain: string | undefined;
  /** `s=` of the signature. */
  selector: string | undefined;
}

/**
 * Verifies the message's DKIM signature (mailauth) against `publicKeyPem` as if it were published
 * at `<selector>._domainkey.<domain>`: a stand-in DNS that answers only that record.
 */
export async function verifyDkim(raw: string, publicKeyPem: string): Promise<DkimVerdict> {
  const key = publicKeyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const result = await dkimVerify(raw, {
    resolver: async (name: string, rrtype: string) => {
      if (rrtype !== 'TXT' || !name.includes('._domainkey.')) throw Object.assign(new Error(`no ${rrtype} record for ${name}`), { code: 'ENOTFOUND' });
      return [[`v=DKIM1; k=rsa; p=${key}`]];
    },
  });
  const first = result.results[0];
  return { result: first?.status.result ?? 'none', domain: first?.signingDomain, selector: first?.selector };
}
