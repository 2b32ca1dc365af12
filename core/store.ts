// The core's own object store: its own root (folder or bucket), apart from the prover's.
// The core needs only this part of the store interface, so tests may hand in any object that
// has it; `openCoreStore` opens a real one from a URL.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { localDir } from '../lib/endpoints';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// Interim file backend until storage/ provides createObjectStore; same contract.
export class ObjectNotFoundError extends Error {
  override name = 'ObjectNotFoundError';
}
let tmpCounter = 0;
function createObjectStore(url: string): CoreStore {
  if (!url.startsWith('file://')) throw new Error(`unsupported store URL ${url}`);
  const root = fileURLToPath(url);
  const pathOf = (key: string): string => join(root, ...key.split('/'));
  return {
    async put(key, data) {
      const p = pathOf(key);
      await mkdir(dirname(p), { recursive: true });
      const tmp = `${p}.tmp-${process.pid}-${tmpCounter++}`;
      await writeFile(tmp, data);
      await rename(tmp, p);
    },
    async get(key) {
      try {
        return await readFile(pathOf(key));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFoundError(key);
        throw e;
      }
    },
    async exists(key) {
      return stat(pathOf(key)).then(
        () => true,
        () => false,
      );
    },
    async list(prefix) {
      const out: string[] = [];
      const walk = async (dir: string): Promise<void> => {
        let entries;
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch {
          return;
        }
        for (const e of entries) {
          const p = join(dir, e.name);
          if (e.isDirectory()) await walk(p);
          else if (!e.name.includes('.tmp-')) out.push(relative(root, p).split(sep).join('/'));
        }
      };
      await walk(root);
      return out.filter((k) => k.startsWith(prefix)).sort();
    },
  };
}

export interface CoreStore {
  /** Writes the object whole (readers never see a partial object). */
  put(key: string, data: Buffer): Promise<void>;
  /** Throws ObjectNotFoundError when there is no such key. */
  get(key: string): Promise<Buffer>;
  exists(key: string): Promise<boolean>;
  /** Keys starting with `prefix`. */
  list(prefix: string): Promise<string[]>;
}

export const DEFAULT_CORE_STORE_URL = pathToFileURL(resolve(localDir, 'core-store')).href;

export function openCoreStore(url: string = DEFAULT_CORE_STORE_URL): CoreStore {
  return createObjectStore(url);
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ObjectNotFoundError;
}

/** Object keys of one batch in the core's store. */
export const batchKeys = {
  prefix: 'batches/',
  input: (n: number): string => `batches/${n}/input`,
  record: (n: number): string => `batches/${n}/record.json`,
  proof: (n: number): string => `batches/${n}/proof`,
};
