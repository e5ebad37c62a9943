import { connect } from 'node:net';

/** A header as it goes on the wire: name and value are written verbatim, CR, LF and NUL included. */
export type RawHeader = readonly [name: string, value: string | Buffer];

export interface RawRequest {
  /** `http://host:port` of the app. */
  baseUrl: string;
  method: string;
  /** Written verbatim after the method (so a path may carry bytes `fetch` would refuse to send). */
  path: string;
  headers?: readonly RawHeader[];
  body?: string | Buffer;
  /** A request that got no complete answer in this time fails (a hung app is a finding). Default 20 s. */
  timeoutMs?: number;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as text; `json` is its parse when it is JSON, else `undefined`. */
  text: string;
  json: unknown;
}

/**
 * One HTTP/1.1 request over a fresh TCP connection, written byte for byte. `node:http` and `fetch`
 * refuse to send a header value with CR, LF or NUL, which is exactly what a header-injection test
 * must send; so this writes the request itself and reads the first response off the socket.
 *
 * `Host`, `Connection: close` and `Content-Length` (of the body as given) come first, so a fuzzed
 * header that ends the header block early cannot leave the connection open.
 */
export function rawRequest({ baseUrl, method, path, headers = [], body, timeoutMs = 20_000 }: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const head: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n`, 'latin1')];
  const sendsLength = headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name));
  if (!sendsLength) head.push(Buffer.from(`Content-Length: ${payload.length}\r\n`, 'latin1'));
  for (const [name, value] of headers) {
    head.push(Buffer.from(`${name}: `, 'utf8'), Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'), Buffer.from('\r\n', 'latin1'));
  }
  head.push(Buffer.from('\r\n', 'latin1'));
  const request = Buffer.concat([...head, payload]);

  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (outcome: { response: RawResponse } | { error: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if ('response' in outcome) resolve(outcome.response);
      else reject(outcome.error);
    };
    const timer = setTimeout(
      () => finish({ error: new Error(`no complete answer to ${method} ${JSON.stringify(path.slice(0, 200))} within ${timeoutMs} ms`) }),
      timeoutMs,
    );
    const tryParse = (ended: boolean): void => {
      const response = parseResponse(Buffer.concat(chunks), ended);
      if (response) finish({ response });
      else if (ended) finish({ error: new Error(`the connection closed without a complete HTTP response (${Buffer.concat(chunks).length} bytes)`) });
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    // The server may answer (e.g. 413, 400) and close before it read the whole request: a reset
    // after a complete answer is that answer.
    socket.on('error', (error) => {
      const response = parseResponse(Buffer.concat(chunks), true);
      finish(response ? { response } : { error });
    });
    socket.write(request);
  });
}

/** The first response in `bytes`, or `undefined` while it is incomplete. */
function parseResponse(bytes: Buffer, ended: boolean): RawResponse | undefined {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine = '', ...lines] = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = bytes.subarray(headEnd + 4);
  let body: Buffer | undefined;
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (rest.length >= length) body = rest.subarray(0, length);
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    body = dechunk(rest);
  } else if (ended) {
    body = rest;
  }
  if (body === undefined) return undefined;
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, headers, text, json };
}

/** The body of a complete chunked transfer, or `undefined` while its last chunk is missing. */
function dechunk(bytes: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (bytes.length < start + size + 2) return undefined;
    parts.push(bytes.subarray(start, start + size));
    at = start + size + 2;
  }
}
