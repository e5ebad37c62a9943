/** One recipient the SMTP server refused, with its reply. */
export interface RecipientRefusal {
  recipient: string;
  smtpCode: number | undefined;
  response: string | undefined;
}

// `550 5.1.1 …` or `550-5.1.1 …`: the reply code, then the enhanced status code (RFC 3463).
const ENHANCED_STATUS = /^(\d{3})[ -](\d)\.(\d{1,3})\.(\d{1,3})\b/;

/**
 * A permanent failure of the address itself: a 5xx reply whose enhanced status is `5.1.x`
 * (addressing: bad mailbox, bad domain, no such user; RFC 3463). Other permanent failures (a
 * policy refusal, `5.7.x`; a full mailbox, `5.2.2`) say nothing final about the address, so
 * they do not suppress it. Read from the codes only, never the text.
 */
export function isHardBounce(refusal: Pick<RecipientRefusal, 'smtpCode' | 'response'>): boolean {
  const match = ENHANCED_STATUS.exec(refusal.response?.trim() ?? '');
  if (!match) return false;
  const code = refusal.smtpCode ?? Number(match[1]);
  return code >= 500 && code < 600 && match[1]!.startsWith('5') && match[2] === '5' && match[3] === '1';
}
