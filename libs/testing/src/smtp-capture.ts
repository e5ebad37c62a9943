import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

export interface CapturedMail {
  from: string;
  recipients: string[];
  messageId: string | null;
  subject: string | null;
  emailId: string | null;
  /** The one-click unsubscribe link of bulk mail (`List-Unsubscribe`), when there is one. */
  listUnsubscribe: string | null;
  raw: string;
  receivedAt: Date;
}

/** What the server answers to a recipient: accept it, or refuse it with an SMTP reply. */
export type RecipientPolicy = (address: string) => { code: number; message: string } | null;

/**
 * A real SMTP server on loopback that keeps every message it accepts: the development inbox of
 * `npm run dev` and the receiving end of the tests. It speaks plain SMTP (no TLS, no AUTH).
 */
export class SmtpCapture {
  readonly mails: CapturedMail[] = [];
  /** Every RCPT TO the server was given, accepted or refused, per address. */
  readonly recipientAttempts = new Map<string, number>();
  /** Every RCPT TO in the order it came, with when and whether it was refused (when each retry really arrived). */
  readonly recipientLog: { address: string; at: Date; refused: boolean }[] = [];
  private readonly server: SMTPServer;
  /** The policy in force; `refuseRecipients()` replaces it. */
  recipientPolicy: RecipientPolicy = () => null;
  private listeners: ((mail: CapturedMail) => void)[] = [];
  private acceptanceDelayMs = 0;
  private holds: { matches: (mail: CapturedMail) => boolean; waiting: (() => void)[] }[] = [];
  private drops: ((mail: CapturedMail) => boolean)[] = [];

  constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      size: 10 * 1024 * 1024,
      onRcptTo: (address: SMTPServerAddress, _session: SMTPServerSession, callback: (err?: Error | null) => void) => {
        this.recipientAttempts.set(address.address, (this.recipientAttempts.get(address.address) ?? 0) + 1);
        const refusal = this.recipientPolicy(address.address);
        this.recipientLog.push({ address: address.address, at: new Date(), refused: refusal !== null });
        if (!refusal) return callback();
        const error = new Error(refusal.message) as Error & { responseCode: number };
        error.responseCode = refusal.code;
        callback(error);
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const mail: CapturedMail = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            recipients: session.envelope.rcptTo.map((r) => r.address),
            messageId: header(raw, 'message-id'),
            subject: header(raw, 'subject'),
            emailId: header(raw, 'x-email-id'),
            listUnsubscribe: header(raw, 'list-unsubscribe'),
            raw,
            receivedAt: new Date(),
          };
          this.mails.push(mail);
          for (const listener of this.listeners) listener(mail);
          if (this.drops.some((matches) => matches(mail))) {
            // The whole message is here, end-of-data included; the reply to it never leaves.
            for (const connection of this.server.connections) if (connection.session.id === session.id) connection.close();
            return;
          }
          const hold = this.holds.find((h) => h.matches(mail));
          if (hold) hold.waiting.push(() => callback());
          else if (this.acceptanceDelayMs > 0) setTimeout(callback, this.acceptanceDelayMs);
          else callback();
        });
      },
    });
    // A client killed mid-session (the fault suite does that) resets its socket; smtp-server
    // reports that as an 'error' event, which is expected here and must not crash the test run.
    this.server.on('error', () => undefined);
  }

  /** Starts listening on 127.0.0.1; port 0 picks a free port. Resolves with the port. */
  async start(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = this.server.server.address();
    if (address === null || typeof address === 'string') throw new Error('SMTP server has no TCP address');
    return address.port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Keeps each message as received but answers its `250` only after `ms`: a client that dies
   * meanwhile is in the SMTP window (the server has the message, the client never learned it).
   */
  delayAcceptance(ms: number): void {
    this.acceptanceDelayMs = ms;
  }

  /**
   * Keeps each message that `matches` as received but answers its `250` only when the returned
   * function is called: its connection stays busy until then, as with a slow or stuck server.
   * Releasing answers every held message and ends the hold.
   */
  hold(matches: (mail: CapturedMail) => boolean): () => void {
    const hold = { matches, waiting: [] as (() => void)[] };
    this.holds.push(hold);
    return () => {
      this.holds = this.holds.filter((h) => h !== hold);
      for (const answer of hold.waiting.splice(0)) answer();
    };
  }

  /**
   * Keeps each message that `matches` as received, then closes its connection instead of
   * answering the end of its data: the client sent everything and never learns the outcome.
   * Returns the function that ends the rule.
   */
  dropAfterData(matches: (mail: CapturedMail) => boolean): () => void {
    this.drops.push(matches);
    return () => {
      this.drops = this.drops.filter((m) => m !== matches);
    };
  }

  refuseRecipients(policy: RecipientPolicy): void {
    this.recipientPolicy = policy;
  }

  onMail(listener: (mail: CapturedMail) => void): void {
    this.listeners.push(listener);
  }

  /** How many messages each recipient received. */
  countByRecipient(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const mail of this.mails) for (const r of mail.recipients) counts.set(r, (counts.get(r) ?? 0) + 1);
    return counts;
  }
}

/** Reads one (possibly folded) header from a raw RFC 5322 message. */
function header(raw: string, name: string): string | null {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const match = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r?\\n[ \\t].*)*)`, 'im').exec(head);
  return match?.[1] ? match[1].replace(/\r?\n[ \t]+/g, ' ').trim() : null;
}
