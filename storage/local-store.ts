// Local folder backend: one file per object under a root folder, key segments as folders.
//
// Atomicity: an object is written to a temporary file in the destination folder (an exclusive
// create under a process-unique name), then renamed over the final name. rename(2) within one
// folder replaces the directory entry atomically, so a reader opens either the old complete file
// or the new complete file; of concurrent writers the last rename wins and leaves one complete
// version. A crash before the rename leaves only a temporary file, which `get`/`exists`/`list`
// never see and `sweepTempFiles` removes.
import { randomBytes } from 'node:crypto';
import * as fsCb from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import {
  KeyConflictError,
  ObjectNotFoundError,
  ObjectStoreError,
  ObjectStore,
  RESERVED_SEGMENT_PREFIX,
  compareKeys,
  validateKey,
  validatePrefix,
} from './object-store';

export interface LocalObjectStoreOptions {
  /**
   * Flush each object to the disk before it becomes visible (fsync of the temporary file, then
   * of the folder after the rename). Off by default: the pipeline can recompute any object, and
   * the rename already guarantees that readers never see partial data while the machine stays
   * up. Turn it on when the objects must survive a power loss or kernel crash.
   */
  fsync?: boolean;
}

/** Prefix of temporary file names; keys cannot contain a segment starting with it. */
export const TEMP_FILE_PREFIX = RESERVED_SEGMENT_PREFIX;

// Folders known to exist (absolute paths), remembered so that a put into an existing folder costs
// no mkdir. Shared by all stores of the process (several may share a root). Cleared when it grows
// past MAX_CACHED_DIRS (a cheap bound; a miss only costs a mkdir).
const knownDirs = new Set<string>();
const MAX_CACHED_DIRS = 50_000;
// A put retries when its folder vanished (a concurrent delete pruned it) this many times.
const MAX_DIR_RETRIES = 8;

// Process-unique part of temporary names: pid plus random bits (pids repeat across containers
// sharing one volume), then a counter shared by all stores of the process.
const processTag = `${process.pid.toString(36)}-${randomBytes(5).toString('hex')}-`;
let tempCounter = 0;

// The hot path uses the callback API, promisified: each call is one thread-pool request, while
// fs.promises' readFile/writeFile go through FileHandle and chunked reads, about half as fast
// for small files.
const fast = {
  readFile: promisify(fsCb.readFile),
  writeFile: promisify(fsCb.writeFile),
  rename: promisify(fsCb.rename),
  link: promisify(fsCb.link),
  unlink: promisify(fsCb.unlink),
  stat: promisify(fsCb.stat),
  rmdir: promisify(fsCb.rmdir),
};

const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

export class LocalObjectStore implements ObjectStore {
  /** Absolute root folder. */
  readonly root: string;
  readonly fsync: boolean;
  private readonly dirs = knownDirs;
  private readonly sep = path.sep;

  constructor(root: string, options: LocalObjectStoreOptions = {}) {
    if (typeof root !== 'string' || root === '') throw new ObjectStoreError('local object store: root folder is required');
    this.root = path.resolve(root);
    this.fsync = options.fsync ?? false;
  }

  describe(): string {
    return `local:${this.root}${this.fsync ? ' (fsync)' : ''}`;
  }

  /** The file that holds `key` (after validation). */
  pathOf(key: string): string {
    validateKey(key);
    return this.filePath(key);
  }

  async put(key: string, data: Buffer): Promise<void> {
    validateKey(key);
    const file = this.filePath(key);
    const dir = this.dirOf(key);
    const tmp = await this.writeTemp(key, dir, data);
    try {
      await fast.rename(tmp, file);
    } catch (err) {
      await fast.unlink(tmp).catch(() => undefined);
      throw this.writeError(key, err);
    }
    if (this.fsync) await syncDir(dir);
  }

  async putIfAbsent(key: string, data: Buffer): Promise<boolean> {
    validateKey(key);
    const file = this.filePath(key);
    const dir = this.dirOf(key);
    const tmp = await this.writeTemp(key, dir, data);
    // link(2) creates the final name only if it does not exist, atomically; the content is
    // complete before the name appears, as with rename.
    try {
      await fast.link(tmp, file);
    } catch (err) {
      if (errnoOf(err) === 'EEXIST' && !(await isDirectory(file))) return false;
      throw this.writeError(key, err);
    } finally {
      await fast.unlink(tmp).catch(() => undefined);
    }
    if (this.fsync) await syncDir(dir);
    return true;
  }

  async get(key: string): Promise<Buffer> {
    validateKey(key);
    try {
      return await fast.readFile(this.filePath(key));
    } catch (err) {
      if (NOT_FOUND_CODES.has(errnoOf(err) ?? '')) throw new ObjectNotFoundError(key, this.describe(), { cause: err });
      throw new ObjectStoreError(`local object store: reading "${key}" failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async exists(key: string): Promise<boolean> {
    validateKey(key);
    try {
      return (await fast.stat(this.filePath(key))).isFile();
    } catch (err) {
      if (NOT_FOUND_CODES.has(errnoOf(err) ?? '')) return false;
      throw new ObjectStoreError(`local object store: checking "${key}" failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    try {
      await fast.unlink(this.filePath(key));
    } catch (err) {
      // Missing, or a folder (a prefix of other keys, not an object): nothing to delete.
      if (NOT_FOUND_CODES.has(errnoOf(err) ?? '') || errnoOf(err) === 'EPERM') return;
      throw new ObjectStoreError(`local object store: deleting "${key}" failed: ${(err as Error).message}`, { cause: err });
    }
    await this.pruneEmptyDirs(key);
  }

  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash < 0 ? '' : prefix.slice(0, slash);
    const namePrefix = prefix.slice(slash + 1);
    const out: string[] = [];
    await this.walk(dirKey === '' ? this.root : this.filePath(dirKey), dirKey === '' ? '' : `${dirKey}/`, namePrefix, out);
    return out.sort(compareKeys);
  }

  /**
   * Removes temporary files left by writers that crashed before their rename, when last modified
   * more than `olderThanMs` ago (a live writer's file is younger). Returns how many were removed.
   */
  async sweepTempFiles(olderThanMs = 60 * 60 * 1000): Promise<number> {
    const limit = Date.now() - olderThanMs;
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (NOT_FOUND_CODES.has(errnoOf(err) ?? '')) return;
        throw err;
      }
      await Promise.all(
        entries.map(async (entry) => {
          const full = `${dir}${this.sep}${entry.name}`;
          if (entry.isDirectory()) return visit(full);
          if (!entry.name.startsWith(TEMP_FILE_PREFIX)) return;
          try {
            if ((await fs.stat(full)).mtimeMs <= limit) {
              await fs.unlink(full);
              removed++;
            }
          } catch (err) {
            if (errnoOf(err) !== 'ENOENT') throw err;
          }
        }),
      );
    };
    await visit(this.root);
    return removed;
  }

  // ---- internals ----

  private filePath(key: string): string {
    return this.sep === '/' ? `${this.root}/${key}` : path.join(this.root, ...key.split('/'));
  }

  private dirOf(key: string): string {
    const slash = key.lastIndexOf('/');
    return slash < 0 ? this.root : this.filePath(key.slice(0, slash));
  }

  /** Writes `data` to a new temporary file in `dir`, creating `dir` when needed; returns its path. */
  private async writeTemp(key: string, dir: string, data: Buffer): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const tmp = `${dir}${this.sep}${TEMP_FILE_PREFIX}${processTag}${(tempCounter++).toString(36)}`;
      try {
        if (!this.dirs.has(dir) && !(await this.makeDir(key, dir))) {
          if (attempt < MAX_DIR_RETRIES) continue;
          throw new ObjectStoreError(`local object store: writing "${key}": its folder kept being removed while being created`);
        }
        await this.writeNewFile(tmp, data);
        return tmp;
      } catch (err) {
        const code = errnoOf(err);
        if ((code === 'ENOENT' || code === 'EEXIST') && attempt < MAX_DIR_RETRIES) {
          // ENOENT: the folder was removed since we cached it (a concurrent delete pruned it);
          // make it again.
          // EEXIST: a leftover temporary file with this very name; take the next name.
          if (code === 'ENOENT') this.dirs.delete(dir);
          continue;
        }
        throw this.writeError(key, err);
      }
    }
  }

  private async writeNewFile(file: string, data: Buffer): Promise<void> {
    if (!this.fsync) {
      // 'wx': exclusive create; never writes into somebody else's file.
      await fast.writeFile(file, data, { flag: 'wx' });
      return;
    }
    const handle = await fs.open(file, 'wx');
    try {
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      await fs.unlink(file).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Creates `dir` and its missing parents and remembers it. Returns false when a concurrent
   * removal of a folder on the path got in the way (the caller retries).
   */
  private async makeDir(key: string, dir: string): Promise<boolean> {
    let created: string | undefined;
    try {
      created = await fs.mkdir(dir, { recursive: true });
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return false; // a parent was removed between two steps of mkdir -p
      if (code === 'EEXIST' || code === 'ENOTDIR') {
        // Either a file really sits on the path, or a folder was removed between mkdir's EEXIST
        // and its check that the existing entry is a folder (Node then reports ENOTDIR).
        if (!(await this.fileOnPath(dir))) return false;
        throw new KeyConflictError(key, 'an object exists at a prefix of this key (a key cannot be both an object and a folder of others)', { cause: err });
      }
      throw this.writeError(key, err);
    }
    if (this.fsync && created !== undefined) {
      // Make the new folder entries durable: sync the parent of each folder created, from the
      // parent of `dir` up to the parent of the first folder created.
      const top = path.dirname(created);
      for (let d = path.dirname(dir); ; d = path.dirname(d)) {
        await syncDir(d);
        if (d === top || d === path.dirname(d)) break;
      }
    }
    if (this.dirs.size >= MAX_CACHED_DIRS) this.dirs.clear();
    this.dirs.add(dir);
    return true;
  }

  /** Whether some component of `dir` below the root exists and is not a folder. */
  private async fileOnPath(dir: string): Promise<boolean> {
    for (let d = dir; d.length > this.root.length; d = path.dirname(d)) {
      try {
        if ((await fs.stat(d)).isDirectory()) return false; // everything above is a folder too
        return true;
      } catch (err) {
        const code = errnoOf(err);
        if (code === 'ENOTDIR') continue; // a component above is not a folder: look there
        if (code !== 'ENOENT') throw err;
      }
    }
    return false;
  }

  private writeError(key: string, err: unknown): ObjectStoreError {
    if (err instanceof ObjectStoreError) return err;
    const code = errnoOf(err);
    if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
      return new KeyConflictError(key, 'other objects exist under this key as a folder (a key cannot be both an object and a folder of others)', { cause: err });
    }
    if (code === 'ENOTDIR') {
      return new KeyConflictError(key, 'an object exists at a prefix of this key (a key cannot be both an object and a folder of others)', { cause: err });
    }
    return new ObjectStoreError(`local object store: writing "${key}" failed: ${(err as Error).message}`, { cause: err });
  }

  /** Removes the folders of `key` that became empty, bottom up, stopping at the first non-empty. */
  private async pruneEmptyDirs(key: string): Promise<void> {
    let end = key.lastIndexOf('/');
    while (end > 0) {
      const dir = this.filePath(key.slice(0, end));
      this.dirs.delete(dir);
      try {
        await fast.rmdir(dir);
      } catch {
        // ENOTEMPTY/EEXIST (still in use), ENOENT (a concurrent delete got there first) or any
        // other reason: leave it; empty folders are harmless.
        return;
      }
      end = key.lastIndexOf('/', end - 1);
    }
  }

  private async walk(dir: string, keyPrefix: string, namePrefix: string, out: string[]): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (NOT_FOUND_CODES.has(errnoOf(err) ?? '')) return;
      throw new ObjectStoreError(`local object store: listing ${dir} failed: ${(err as Error).message}`, { cause: err });
    }
    const subdirs: Promise<void>[] = [];
    for (const entry of entries) {
      const name = entry.name;
      if (name.startsWith(TEMP_FILE_PREFIX)) continue;
      if (namePrefix !== '' && !name.startsWith(namePrefix)) continue;
      if (entry.isDirectory()) {
        subdirs.push(this.walk(`${dir}${this.sep}${name}`, `${keyPrefix}${name}/`, '', out));
      } else if (entry.isFile()) {
        out.push(keyPrefix + name);
      }
    }
    await Promise.all(subdirs);
  }
}

async function isDirectory(file: string): Promise<boolean> {
  try {
    return (await fs.lstat(file)).isDirectory();
  } catch {
    return false;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
