// Object store throughput: puts then gets of small objects.
//
//   npx tsx bench/object-store.ts [--n 10000] [--gcs-n 500] [--size 1024] [--concurrency 64]
//                                 [--dir /parent/folder] [--fsync] [--no-gcs]
//
// Local backend: --n objects in a fresh folder under --dir (default: the OS temporary folder);
// with --fsync also a run with fsync on.
// GCS backend: --gcs-n objects against the emulator at endpoints.gcsEmulatorUrl, when reachable.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { endpoints } from '../lib/endpoints';
import { GcsObjectStore, LocalObjectStore, ObjectStore } from '../storage';

interface Args {
  n: number;
  gcsN: number;
  size: number;
  concurrency: number;
  fsync: boolean;
  gcs: boolean;
  dir: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { n: 10_000, gcsN: 500, size: 1024, concurrency: 64, fsync: false, gcs: true, dir: os.tmpdir() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--n') args.n = num();
    else if (a === '--gcs-n') args.gcsN = num();
    else if (a === '--size') args.size = num();
    else if (a === '--concurrency') args.concurrency = num();
    else if (a === '--fsync') args.fsync = true;
    else if (a === '--no-gcs') args.gcs = false;
    else if (a === '--dir' && i + 1 < argv.length) args.dir = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

interface Rate {
  opsPerSec: number;
  /** Process CPU time (all threads) per operation, in microseconds. */
  cpuMicros: number;
}

/** Runs `op(i)` for i in [0, n) with at most `concurrency` in flight. */
async function timed(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<Rate> {
  let next = 0;
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await op(next++);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { opsPerSec: n / seconds, cpuMicros: (used.user + used.system) / n };
}

// The pipeline's key layout: a few hundred proofs per folder.
function keyOf(i: number): string {
  return `v0.1/b${Math.floor(i / 1000)}/run0/proof/r0/c${Math.floor(i / 250) % 4}/d0/s${i}`;
}

async function bench(label: string, store: ObjectStore, n: number, size: number, concurrency: number): Promise<void> {
  const data = Array.from({ length: 16 }, () => randomBytes(size));
  const puts = await timed(n, concurrency, (i) => store.put(keyOf(i), data[i % 16]));
  const overwrites = await timed(n, concurrency, (i) => store.put(keyOf(i), data[(i + 1) % 16]));
  const gets = await timed(n, concurrency, async (i) => {
    const got = await store.get(keyOf(i));
    if (got.length !== size) throw new Error(`short read of ${keyOf(i)}`);
  });
  const exists = await timed(n, concurrency, (i) => store.exists(keyOf(i)));
  const listStart = process.hrtime.bigint();
  const listed = await store.list('v0.1/');
  const listMs = Number(process.hrtime.bigint() - listStart) / 1e6;
  if (listed.length !== n) throw new Error(`list returned ${listed.length} keys, expected ${n}`);
  const deletes = await timed(n, concurrency, (i) => store.delete(keyOf(i)));
  const fmt = (r: Rate) =>
    `${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(9)} ops/s  (${r.cpuMicros.toFixed(0).padStart(5)} µs CPU/op)`;
  console.log(
    `${label.padEnd(34)} n=${n} size=${size}B concurrency=${concurrency}\n` +
      `  put (new)   ${fmt(puts)}\n` +
      `  put (over)  ${fmt(overwrites)}\n` +
      `  get         ${fmt(gets)}\n` +
      `  exists      ${fmt(exists)}\n` +
      `  delete      ${fmt(deletes)}\n` +
      `  list        ${listMs.toFixed(1).padStart(9)} ms for ${listed.length} keys`,
  );
}

async function emulatorReachable(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/storage/v1/b?project=local-emulator`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`object store bench: node ${process.version}, ${os.cpus().length} CPUs, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);

  for (const fsync of args.fsync ? [false, true] : [false]) {
    const root = await fs.mkdtemp(path.join(args.dir, 'kp-bench-store-'));
    try {
      const store = new LocalObjectStore(root, { fsync });
      await bench(store.describe(), store, args.n, args.size, args.concurrency);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  }

  if (!args.gcs) return;
  const url = endpoints.gcsEmulatorUrl;
  if (!(await emulatorReachable(url))) {
    console.log(`GCS emulator not reachable at ${url}: skipped (start it with: bash infra/bin/services up gcs)`);
    return;
  }
  const bucket = `kp-bench-${Date.now().toString(36)}`;
  const store = new GcsObjectStore({ bucket, emulatorUrl: url });
  try {
    await bench(store.describe(), store, args.gcsN, args.size, Math.min(args.concurrency, 16));
  } finally {
    await store.storage.bucket(bucket).delete({ ignoreNotFound: true }).catch(() => undefined);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
