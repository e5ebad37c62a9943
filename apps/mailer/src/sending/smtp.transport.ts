import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import nodemailer, { type NodemailerError, type SendMailOptions, type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { LANES, type Lane } from '@app/contracts';
import { MAILER_CONFIG, type MailerConfig, smtpPoolSize, smtpUrlOf } from '../config.js';
import type { RecipientRefusal } from '../suppressions/hard-bounce.js';
import { SmtpDeferredError, SmtpRejectedError, SmtpUnconfirmedError } from './smtp.errors.js';

export interface OutgoingAttachment {
  filename: string;
  contentType: string;
  /** The bytes, in `encoding`. */
  content: string;
  encoding: 'base64';
  /** Content-ID of an inline part (`cid:` in the HTML). */
  cid?: string;
}

export interface OutgoingMail {
  messageId: string;
  from: string | { name?: string; address: string };
  to: string[];
  cc?: string[];
  bcc?: string[];
  replyTo?: string;
  subject: string;
  text?: string;
  html?: string;
  attachments?: OutgoingAttachment[];
  headers: Record<string, string>;
}

export interface SmtpReceipt {
  /** The `Message-ID` header that went out. */
  messageId: string;
  /** The server's final reply, e.g. `250 2.0.0 Ok: queued as 4F3A1`. */
  response: string;
  rejected: string[];
  /** The server's reply to each refused recipient (a hard bounce suppresses the address). */
  refused: RecipientRefusal[];
}

/**
 * What one `send` learned about its message stream, filled in by {@link trackHandOff}: whether
 * nodemailer read the whole message, so that the end-of-data `.` went out right behind it.
 */
interface HandOff {
  messageWritten: boolean;
}

/** The key of a send's {@link HandOff} in nodemailer's per-message options (plugins see those as `mail.data`). */
const HAND_OFF = 'emailLoopHandOff';

/**
 * The SMTP adapter: one pooled nodemailer transport per lane (`SMTP_POOL_SIZE_<LANE>`
 * connections each, to `SMTP_URL_<LANE>` or `SMTP_URL`), so bulk mail waiting for a connection
 * never queues in front of a transactional one. Every failure leaves as a typed error: {@link SmtpRejectedError}
 * (permanent), {@link SmtpDeferredError} (try again later) or {@link SmtpUnconfirmedError} (the
 * whole message went out and no reply came: it may have been accepted).
 */
@Injectable()
export class SmtpTransport implements OnApplicationShutdown {
  private readonly pools: Record<Lane, Transporter>;
  /** One pool per distinct route: what `verify()` greets. */
  private readonly routes: Transporter[];

  constructor(@Inject(MAILER_CONFIG) config: MailerConfig) {
    const pool = (lane: Lane): Transporter =>
      nodemailer
        .createTransport({
        url: smtpUrlOf(config, lane),
        // With DKIM configured, every message is signed as it is streamed to the server.
        ...(config.DKIM && { dkim: config.DKIM }),
        pool: true,
        maxConnections: smtpPoolSize(config, lane),
        maxMessages: 1_000,
        connectionTimeout: config.SMTP_CONNECT_TIMEOUT_MS,
        greetingTimeout: config.SMTP_CONNECT_TIMEOUT_MS,
        socketTimeout: config.SMTP_SOCKET_TIMEOUT_MS,
        ...smtpTlsOptions(config),
        })
        .use('stream', trackHandOff);
    this.pools = { transactional: pool('transactional'), bulk: pool('bulk') };
    // Pools on the same route talk to the same server with the same credentials: one greeting tells for both.
    this.routes = config.SMTP_URL_BULK === config.SMTP_URL_TRANSACTIONAL ? [this.pools.transactional] : [this.pools.transactional, this.pools.bulk];
  }

  /** Opens a connection of its own to each route and greets the server (nodemailer's `verify()`); throws when one cannot. */
  async verify(): Promise<void> {
    await Promise.all(this.routes.map((route) => route.verify()));
  }

  /** Hands `mail` over on a connection of `lane`'s pool (waiting for one if all are busy). */
  async send(mail: OutgoingMail, lane: Lane): Promise<SmtpReceipt> {
    const handOff: HandOff = { messageWritten: false };
    const options: SendMailOptions & { [HAND_OFF]: HandOff } = {
      ...mail,
      messageId: mail.messageId,
      // Content is only ever passed by value: nothing in a message may make nodemailer read a
      // local file or fetch a URL (attachments and images can name a `path` or `href`).
      disableFileAccess: true,
      disableUrlAccess: true,
      [HAND_OFF]: handOff,
    };
    try {
      const info = await this.pools[lane].sendMail(options);
      return {
        messageId: String(info.messageId ?? mail.messageId),
        response: String(info.response ?? ''),
        rejected: (info.rejected ?? []).map(String),
        refused: refusalsOf(info.rejectedErrors),
      };
    } catch (error) {
      throw classifySmtpError(error, handOff);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    for (const lane of LANES) this.pools[lane].close();
  }
}

/**
 * nodemailer's TLS options for `SMTP_TLS`: `requireTLS` makes it fail the connection (before any
 * AUTH or MAIL FROM) when STARTTLS is not offered or fails; `ignoreTLS` never tries it. An
 * `smtps://` route is TLS from the first byte whatever this says (config refuses it with `none`).
 */
export function smtpTlsOptions(config: Pick<MailerConfig, 'SMTP_TLS' | 'SMTP_TLS_CA' | 'SMTP_TLS_REJECT_UNAUTHORIZED'>): SMTPPool.Options {
  if (config.SMTP_TLS === 'none') return { ignoreTLS: true };
  return {
    ...(config.SMTP_TLS === 'required' && { requireTLS: true }),
    tls: { rejectUnauthorized: config.SMTP_TLS_REJECT_UNAUTHORIZED, ...(config.SMTP_TLS_CA !== undefined && { ca: config.SMTP_TLS_CA }) },
  };
}

/** nodemailer's per-recipient RCPT TO errors, as our refusals. */
function refusalsOf(errors: readonly Partial<NodemailerError>[] | undefined): RecipientRefusal[] {
  return (errors ?? []).map((r) => ({ recipient: String(r.recipient ?? ''), smtpCode: r.responseCode, response: r.response }));
}

/**
 * nodemailer's `stream` step: marks the send's {@link HandOff} once the message stream the
 * connection reads has ended. The connection pipes that stream into its dot-escaping stream, which
 * writes the end-of-data `.` to the socket as soon as the source ends; so after this mark the
 * server may have the whole message. nodemailer's own error cannot tell: a timeout or a dropped
 * connection is `ETIMEDOUT`/`ECONNECTION` with `command: 'CONN'` whichever step was in flight
 * (smtp-connection's `_onTimeout`/`_onClose`), and only a reply carries `command: 'DATA'`.
 *
 * The stream is wrapped where the pool creates it (`createReadStream`, after DKIM signing), not
 * as a `transform`: DKIM reads its whole input before it writes, so a transform's end would come
 * before the message had left. A message the pool requeues (not a byte read) is never marked.
 */
function trackHandOff(mail: { data: object; message: { createReadStream: (...args: never[]) => NodeJS.ReadableStream } }, done: (err?: Error | null) => void): void {
  const handOff = (mail.data as { [HAND_OFF]?: HandOff })[HAND_OFF];
  if (handOff) {
    const message = mail.message;
    const createReadStream = message.createReadStream.bind(message);
    message.createReadStream = (...args) => {
      const stream = createReadStream(...args);
      stream.once('end', () => {
        handOff.messageWritten = true;
      });
      return stream;
    };
  }
  done();
}

const CONNECTION_ERROR_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EAUTH', 'ENOAUTH', 'EPROXY']);

/**
 * Maps a nodemailer failure to our error types, by reply code, never by message text. A failure
 * with no reply after the whole message was written (`handOff.messageWritten`) is unconfirmed:
 * the server may have accepted the message and its reply got lost. Any reply, even after that
 * (a 4xx or 5xx to the final `.`), is classified by its code as usual.
 */
export function classifySmtpError(error: unknown, handOff: Readonly<HandOff> = { messageWritten: false }): SmtpRejectedError | SmtpDeferredError | SmtpUnconfirmedError {
  const e = error as Partial<NodemailerError>;
  const message = error instanceof Error ? error.message : String(error);
  if (handOff.messageWritten && typeof e.responseCode !== 'number') {
    return new SmtpUnconfirmedError(`the whole message was sent and the server's reply to it never came: ${message}`, { cause: error });
  }
  // Failures of the connection or of our credentials say nothing about this message: retry.
  if (e.code && CONNECTION_ERROR_CODES.has(e.code)) {
    return new SmtpDeferredError(message, e.responseCode, e.response, { cause: error });
  }
  if (typeof e.responseCode === 'number') {
    // nodemailer sets `permanent` from the reply class (5xx except 503); fall back to the code.
    const permanent = e.permanent ?? (e.responseCode >= 500 && e.responseCode !== 503);
    return permanent
      ? new SmtpRejectedError(message, e.responseCode, e.response, refusalsOf(e.rejectedErrors))
      : new SmtpDeferredError(message, e.responseCode, e.response, { cause: error });
  }
  // No SMTP reply at all: connection refused, timeout, TLS failure. The server may be back later.
  return new SmtpDeferredError(message, undefined, undefined, { cause: error });
}
