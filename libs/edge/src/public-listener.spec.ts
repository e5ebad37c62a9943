import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { HttpAdapterHost } from '@nestjs/core';
import { afterEach, describe, expect, it } from 'vitest';
import { PublicListener } from './public-listener.js';

/**
 * The listener over a bare request handler standing in for Express: the gate runs first, as
 * `applyHttpEdge` registers it, and whatever it lets through is answered `200 routed`.
 */
function listenerOver(routes: readonly string[]): PublicListener {
  // The handler runs only once a request arrives, when `listener` is set.
  const app = (req: IncomingMessage, res: ServerResponse): void => listener.gate(req, res, () => res.end('routed'));
  const host = { httpAdapter: { getInstance: () => app } } as unknown as HttpAdapterHost;
  const listener = new PublicListener({ port: 0, host: '127.0.0.1', routes }, host);
  return listener;
}

/** Sends a request line exactly as given and returns the status code and body. */
function raw(port: number, requestLine: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${requestLine}\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = '';
    socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
    socket.on('end', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body });
    });
    socket.on('error', reject);
  });
}

describe('PublicListener', () => {
  let listener: PublicListener | undefined;
  afterEach(async () => {
    await listener?.beforeApplicationShutdown();
  });

  it('lets through only paths under a listed prefix, spelled plainly', async () => {
    listener = listenerOver(['/v1/unsubscribe/']);
    expect(await listener.listen()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const port = listener.address()!.port;
    for (const path of ['/v1/unsubscribe/abc.def', '/v1/unsubscribe/abc?x=1']) {
      expect(await raw(port, `GET ${path} HTTP/1.1`), path).toEqual({ status: 200, body: 'routed' });
    }
    for (const path of [
      '/health',
      '/v1/emails',
      '/v1/unsubscribe',
      '/v1/unsubscribed/x',
      '/V1/unsubscribe/x',
      '/v1/unsubscribe/../emails',
      '/v1/unsubscribe/./x',
      '/v1/unsubscribe/..',
      '/v1/unsubscribe/%2E%2E/emails',
      '/v1/unsubscribe/x%2femails',
      '/v1/unsubscribe/x%5c..',
      '/v1/unsubscribe/x\\..\\health',
      'http://x/v1/unsubscribe/abc',
      '*',
    ]) {
      const res = await raw(port, `GET ${path} HTTP/1.1`);
      expect(res, path).toEqual({ status: 404, body: JSON.stringify({ error: { code: 'not_found', message: 'not found' } }) });
    }
  });

  it('leaves requests on other ports alone', () => {
    listener = listenerOver(['/v1/unsubscribe/']);
    let passed = false;
    listener.gate({ url: '/v1/emails' } as IncomingMessage, {} as ServerResponse, () => (passed = true));
    expect(passed).toBe(true);
  });

  it('closes on shutdown, cutting kept-alive connections', async () => {
    listener = listenerOver(['/v1/unsubscribe/']);
    await listener.listen();
    const port = listener.address()!.port;
    const idle = connect(port, '127.0.0.1');
    await new Promise((resolve) => idle.once('connect', resolve));
    const closedByServer = new Promise((resolve) => idle.once('close', resolve));
    await listener.beforeApplicationShutdown();
    await closedByServer;
    await expect(raw(port, 'GET /v1/unsubscribe/x HTTP/1.1')).rejects.toThrow(/ECONNREFUSED/);
    listener = undefined;
  });

  it('is off without a port, and refuses a prefix that does not end in /', async () => {
    const host = { httpAdapter: { getInstance: () => () => undefined } } as unknown as HttpAdapterHost;
    expect(await new PublicListener({ host: '127.0.0.1', routes: ['/v1/unsubscribe/'] }, host).listen()).toBeUndefined();
    expect(() => new PublicListener({ host: '127.0.0.1', routes: ['/v1/unsubscribe'] }, host)).toThrow(/must start and end with \//);
  });
});
