// The core's own object store: its own root (folder or bucket), apart from the prover's.
// The core needs only this part of storage/'s ObjectStore, so tests may hand in any object that
// has it; `openCoreStore` opens a real one from a URL (storage/ createObjectStore).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { localDir } from '../lib/endpoints';
import { createObjectStore, isObjectNotFound } from '../storage';

export interface CoreStore {
  /** Writes the object whole (readers never see a partial object). */
  put(key: string, data: Buffer): Promise<void>;
  /** Throws ObjectNotFoundError when there is no such key. */
  get(key: string): Promise<Buffer>;
  exists(key: string): Promise<boolean>;
  /** Keys starting with `prefix`. */
  list(prefix: string): Promise<string[]>;
  /** Where the objects live, for logs. */
  describe?(): string;
}

export const DEFAULT_CORE_STORE_URL = pathToFileURL(resolve(localDir, 'core-store')).href;

export function openCoreStore(url: string = DEFAULT_CORE_STORE_URL): CoreStore {
  return createObjectStore(url);
}

export function isNotFound(e: unknown): boolean {
  return isObjectNotFound(e);
}

/** Object keys of one batch in the core's store. */
export const batchKeys = {
  prefix: 'batches/',
  input: (n: number): string => `batches/${n}/input`,
  record: (n: number): string => `batches/${n}/record.json`,
  proof: (n: number): string => `batches/${n}/proof`,
};
