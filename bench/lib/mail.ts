/**
 * The one message every scenario sends, so the sink sees the same bytes whichever path produced
 * them. Each email has its own recipient, which is how the sink's arrivals are matched to the
 * requests that caused them (the envelope's RCPT TO: no body parsing in the sink).
 */
export const BENCH_MAIL = {
  from: 'Email Loop <no-reply@email-loop.local>',
  subject: 'Your sign-in code',
  text: `Hello,\n\nyour sign-in code is 482913. It expires in 10 minutes.\n\n${'If you did not ask for it, ignore this email. '.repeat(8)}\n`,
} as const;

/** The recipient of email number `seq` of run `tag`: unique per email within a run. */
export function recipientOf(tag: string, seq: number): string {
  return `u${seq}.${tag}@bench.email-loop.test`;
}
