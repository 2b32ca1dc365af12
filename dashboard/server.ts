// The dashboard's HTTP server (node:http): the page and its assets from dashboard/public/, the
// latest snapshot as JSON, and Server-Sent Events that push every new snapshot.
//
//   GET /                 the page (index.html; app.js and style.css next to it)
//   GET /api/snapshot     the latest snapshot (waits for the first one)
//   GET /api/events       text/event-stream: `event: snapshot` with the latest at once, then each new one
//
// One sampler per server: it takes a snapshot, pushes it to every connected page, waits the
// interval, and takes the next; a slow snapshot delays the next instead of piling up.
import { readFileSync } from 'node:fs';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { join } from 'node:path';
import { Logger } from '../lib/logger';
import { DashboardSnapshot } from './snapshot';
import { listen } from '../lib/http-listen';

export interface SnapshotSource {
  take(): Promise<DashboardSnapshot>;
}

export interface DashboardServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Time between the end of one snapshot and the start of the next. Default 2000 ms. */
  intervalMs?: number;
  logger?: Logger;
}

export interface DashboardServer {
  /** e.g. http://127.0.0.1:13070/ */
  url: string;
  port: number;
  /** The newest snapshot, or null before the first. */
  latest(): DashboardSnapshot | null;
  /** Resolves with the next snapshot taken. */
  next(): Promise<DashboardSnapshot>;
  /** Stops sampling, ends the event streams and closes the server. */
  close(): Promise<void>;
}

const PUBLIC_DIR = join(__dirname, 'public');

/** The files the page consists of: served from memory, nothing else on disk is reachable. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** The SSE frame of one snapshot. */
export function snapshotEvent(s: DashboardSnapshot): string {
  return `id: ${s.sequence}\nevent: snapshot\ndata: ${JSON.stringify(s)}\n\n`;
}

export async function startDashboardServer(source: SnapshotSource, options: DashboardServerOptions): Promise<DashboardServer> {
  const assets = new Map(Object.entries(ASSETS).map(([path, a]) => [path, { body: readFileSync(join(PUBLIC_DIR, a.file)), type: a.type }]));
  const intervalMs = options.intervalMs ?? 2000;
  const log = options.logger;
  const streams = new Set<ServerResponse>();
  let latest: DashboardSnapshot | null = null;
  let waiters: Array<(s: DashboardSnapshot) => void> = [];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let sampling: Promise<void> = Promise.resolve();

  const publish = (s: DashboardSnapshot) => {
    latest = s;
    const frame = snapshotEvent(s);
    for (const res of streams) res.write(frame);
    const w = waiters;
    waiters = [];
    for (const resolve of w) resolve(s);
  };
  const next = () => new Promise<DashboardSnapshot>((resolve) => waiters.push(resolve));

  const sampleLoop = () => {
    if (stopped) return;
    sampling = source.take().then(
      (s) => {
        if (!stopped) publish(s);
      },
      (e: Error) => log?.warn({ err: e.message }, 'dashboard snapshot failed'),
    );
    sampling.finally(() => {
      if (!stopped) timer = setTimeout(sampleLoop, intervalMs);
    });
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const openStream = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    // How long a page waits before it reconnects after the stream broke.
    res.write('retry: 3000\n\n');
    if (latest) res.write(snapshotEvent(latest));
    streams.add(res);
    // A comment now and then keeps proxies from closing an idle stream.
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(keepAlive);
      streams.delete(res);
    });
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    const asset = assets.get(path);
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (path === '/api/snapshot') {
      if (latest) json(res, 200, latest);
      else next().then((s) => json(res, 200, s));
      return;
    }
    if (path === '/api/events') {
      openStream(req, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  });

  const host = options.host ?? '127.0.0.1';
  const { port, origin } = await listen(server, options.port, host);
  const url = `${origin}/`;
  log?.info({ dashboard: url }, 'dashboard listening');
  sampleLoop();

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    latest: () => latest,
    next,
    close: () =>
      (closing ??= (async () => {
        stopped = true;
        clearTimeout(timer);
        for (const res of streams) res.end();
        streams.clear();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        // The snapshot in flight holds Kafka admin clients: let it finish before the caller closes its services.
        await sampling;
      })()),
  };
}
