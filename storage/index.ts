// Object store: the interface, its two backends, and a factory from a configuration URL.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Storage } from '@google-cloud/storage';

import { endpoints } from '../lib/endpoints';
import { GcsObjectStore } from './gcs-store';
import { LocalObjectStore } from './local-store';
import { ObjectStore, ObjectStoreError } from './object-store';

export * from './object-store';
export { LocalObjectStore, TEMP_FILE_PREFIX } from './local-store';
export type { LocalObjectStoreOptions } from './local-store';
export { GcsObjectStore } from './gcs-store';
export type { GcsObjectStoreOptions } from './gcs-store';

export interface CreateObjectStoreOptions {
  /** Local backend: fsync each object before it becomes visible (see LocalObjectStoreOptions). */
  fsync?: boolean;
  /**
   * GCS backend: true uses the emulator at `endpoints.gcsEmulatorUrl`, a string uses the emulator
   * at that URL, false forces real GCS even when GCS_EMULATOR_URL is set.
   */
  emulator?: boolean | string;
  /** GCS backend: project id (real GCS: taken from the environment when unset). */
  projectId?: string;
  /** GCS backend: create the bucket when missing (default: only with the emulator). */
  createBucketIfMissing?: boolean;
  /** GCS backend: a ready client to use. */
  storage?: Storage;
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;
const GS_URL = /^gs:\/\/([^/?#]+)(\/[^?#]*)?(?:\?([^#]*))?$/;

function truthy(value: string): boolean {
  return value === '' || value === '1' || value === 'true' || value === 'yes';
}

function queryOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

/**
 * Opens the object store a configuration URL names:
 *
 * - `file:///abs/path` or a plain path (absolute, or relative to the working folder): the local
 *   folder backend rooted there. `file:///abs/path?fsync=1` turns fsync on.
 * - `gs://bucket` or `gs://bucket/some/prefix`: the GCS backend. It talks to the emulator when
 *   `options.emulator` says so, when the URL has `?emulator` (`?emulator=1` for
 *   `endpoints.gcsEmulatorUrl`, `?emulator=http://host:port` for another), or when the
 *   GCS_EMULATOR_URL environment variable is set; otherwise to real GCS with the default
 *   credentials.
 */
export function createObjectStore(url: string, options: CreateObjectStoreOptions = {}): ObjectStore {
  if (typeof url !== 'string' || url.trim() === '') throw new ObjectStoreError('object store URL is empty');
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();

  if (scheme === undefined) {
    return new LocalObjectStore(path.resolve(url), { fsync: options.fsync });
  }

  if (scheme === 'file') {
    let root: string;
    try {
      root = fileURLToPath(url.replace(/\?.*$/, ''));
    } catch (err) {
      throw new ObjectStoreError(`invalid file URL ${JSON.stringify(url)}: ${(err as Error).message} (use file:///absolute/path)`, { cause: err });
    }
    const fsyncParam = queryOf(url).get('fsync');
    const fsync = options.fsync ?? (fsyncParam !== null && truthy(fsyncParam));
    return new LocalObjectStore(root, { fsync });
  }

  if (scheme === 'gs') {
    const m = GS_URL.exec(url);
    if (!m) throw new ObjectStoreError(`invalid GCS URL ${JSON.stringify(url)} (use gs://bucket or gs://bucket/prefix)`);
    const [, bucket, rawPrefix = '', query = ''] = m;
    const prefix = rawPrefix.replace(/^\/+|\/+$/g, '');
    return new GcsObjectStore({
      bucket,
      prefix,
      emulatorUrl: resolveEmulator(options.emulator, new URLSearchParams(query).get('emulator')),
      projectId: options.projectId,
      createBucketIfMissing: options.createBucketIfMissing,
      storage: options.storage,
    });
  }

  throw new ObjectStoreError(`unsupported object store URL ${JSON.stringify(url)}: use file:///path, a plain path, or gs://bucket[/prefix]`);
}

function resolveEmulator(option: boolean | string | undefined, param: string | null): string | undefined {
  if (typeof option === 'string') return option;
  if (option === true) return endpoints.gcsEmulatorUrl;
  if (option === false) return undefined;
  if (param !== null) {
    if (/^https?:\/\//.test(param)) return param;
    if (truthy(param)) return endpoints.gcsEmulatorUrl;
    if (param === '0' || param === 'false' || param === 'no') return undefined;
    throw new ObjectStoreError(`invalid emulator parameter ${JSON.stringify(param)} in GCS URL (use emulator=1 or emulator=http://host:port)`);
  }
  return process.env.GCS_EMULATOR_URL || undefined;
}
