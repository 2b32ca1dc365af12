// Shared bits of the core tests: a temp store folder per test, an in-process core on an
// ephemeral port, and a small JSON HTTP client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CoreOptions, RunningCore, startCore } from '../../core/main';

export interface TempStore {
  dir: string;
  url: string;
  remove(): void;
}

export function tempStore(): TempStore {
  const dir = mkdtempSync(join(tmpdir(), 'core-store-'));
  return { dir, url: pathToFileURL(dir).href, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A controllable clock for lease tests. */
export class TestClock {
  constructor(public ms = Date.parse('2030-01-01T00:00:00.000Z')) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export const SMALL_SHAPE = { basicJobs: 12, circuitIds: [1, 3, 5, 7, 9], instanceCapacity: 2 } as const;

export function coreOn(store: TempStore, options: CoreOptions = {}): Promise<RunningCore> {
  return startCore({
    port: 0,
    store: store.url,
    seed: 'test-seed',
    basicJobs: SMALL_SHAPE.basicJobs,
    circuitIds: [...SMALL_SHAPE.circuitIds],
    instanceCapacity: SMALL_SHAPE.instanceCapacity,
    ...options,
  });
}

export interface JsonResponse<T = any> {
  status: number;
  body: T;
  text: string;
}

export async function request<T = any>(base: string, method: string, path: string, body?: unknown, raw?: string): Promise<JsonResponse<T>> {
  const init: RequestInit = { method, headers: { 'content-type': 'application/json' } };
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed: any = undefined;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  return { status: res.status, body: parsed as T, text };
}

export const post = <T = any>(base: string, path: string, body?: unknown, raw?: string): Promise<JsonResponse<T>> =>
  request<T>(base, 'POST', path, body, raw);
export const get = <T = any>(base: string, path: string): Promise<JsonResponse<T>> => request<T>(base, 'GET', path);
