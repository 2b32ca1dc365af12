// Starts an HTTP server on host:port (0 = a free port) and says where it can be reached.
import { Server } from 'node:http';
import { AddressInfo } from 'node:net';

export interface Listening {
  port: number;
  /** `http://host:port`, with a wildcard host shown as 127.0.0.1 and an IPv6 host in brackets. */
  origin: string;
}

export async function listen(server: Server, port: number, host: string): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return { port: bound, origin: `http://${shown.includes(':') ? `[${shown}]` : shown}:${bound}` };
}
