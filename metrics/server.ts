// The /metrics endpoint of a component (node:http): GET /metrics answers the registry in the
// Prometheus text format; anything else is 404.
import { Server, createServer } from 'node:http';
import { Registry } from 'prom-client';
import { Logger } from '../lib/logger';
import { listen } from '../lib/http-listen';

export interface MetricsServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1; 0.0.0.0 in a pod so Prometheus can reach it. */
  host?: string;
  logger?: Logger;
}

export interface MetricsServer {
  /** e.g. http://127.0.0.1:9400/metrics */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(registry: Registry, options: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found: try GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (e: Error) => {
        options.logger?.warn({ err: e.message }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`collecting metrics failed: ${e.message}\n`);
      },
    );
  });
  const host = options.host ?? '127.0.0.1';
  const { port, origin } = await listen(server, options.port, host);
  const url = `${origin}/metrics`;
  options.logger?.info({ metrics: url }, 'metrics endpoint listening');
  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/**
 * The `--metrics-port` flag: a port number (0 = a free port, printed in the log) or `off`.
 * Returns null for off; `fallback` when the flag is absent (null = off by default).
 */
export function parseMetricsPort(value: string | true | undefined, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  if (value === 'off' || value === 'none') return null;
  const n = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n > 65535) throw new RangeError(`--metrics-port expects a port 0..65535 or "off", got "${value === true ? '' : value}"`);
  return n;
}
