import type { AddressInfo } from 'node:net';

/** `http://<address>:<port>` of a bound server, IPv6 addresses in brackets, for start-up logs. */
export function listeningUrl(address: AddressInfo | string | null): string {
  if (address === null) return 'http://(not listening)';
  if (typeof address === 'string') return address;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}
