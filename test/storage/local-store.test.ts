import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { expect } from 'chai';

import { KeyConflictError, LocalObjectStore, ObjectNotFoundError, TEMP_FILE_PREFIX } from '../../storage';
import { checkPayload, expectRejection, makePayload, objectStoreContract } from './contract';

async function tempRoot(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'kp-local-store-'));
}

async function removeRoot(root: string): Promise<void> {
  await fs.rm(root, { recursive: true, force: true });
}

/** Every file and folder under `root`, as '/'-separated relative paths. */
async function tree(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true });
  return entries.map((e) => e.split(path.sep).join('/')).sort();
}

describe('LocalObjectStore', () => {
  describe('contract', () => {
    objectStoreContract(
      async () => {
        const root = await tempRoot();
        return { store: new LocalObjectStore(root), close: () => removeRoot(root) };
      },
      { concurrentWriters: 50, payloadBytes: 256 * 1024, concurrentReaders: 8 },
    );
  });

  describe('contract with fsync on', () => {
    objectStoreContract(
      async () => {
        const root = await tempRoot();
        return { store: new LocalObjectStore(root, { fsync: true }), close: () => removeRoot(root) };
      },
      { concurrentWriters: 10, payloadBytes: 64 * 1024, concurrentReaders: 4 },
    );
  });

  describe('local specifics', () => {
    let root: string;
    let store: LocalObjectStore;

    beforeEach(async () => {
      root = await tempRoot();
      store = new LocalObjectStore(root);
    });

    afterEach(async () => {
      await removeRoot(root);
    });

    it('stores each object as a file at its key under the root', async () => {
      await store.put('v0.1/b1/run0/input', Buffer.from('input'));
      expect(await fs.readFile(path.join(root, 'v0.1', 'b1', 'run0', 'input'), 'utf8')).to.equal('input');
      expect(store.pathOf('a/b')).to.equal(path.join(root, 'a', 'b'));
      expect(await tree(root)).to.deep.equal(['v0.1', 'v0.1/b1', 'v0.1/b1/run0', 'v0.1/b1/run0/input']);
    });

    it('leaves no temporary files after successful writes', async () => {
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.put(`t/k${i % 7}`, Buffer.from(String(i)))));
      await store.putIfAbsent('t/k0', Buffer.from('no'));
      await store.putIfAbsent('t/new', Buffer.from('yes'));
      const files = await tree(root);
      expect(files.filter((f) => path.basename(f).startsWith(TEMP_FILE_PREFIX))).to.deep.equal([]);
    });

    it('a crash mid-write (leftover temporary file) leaves no visible object', async () => {
      // What a writer that died between writing its temporary file and the rename leaves behind.
      await fs.mkdir(path.join(root, 'v0.1', 'b1'), { recursive: true });
      await fs.writeFile(path.join(root, 'v0.1', 'b1', `${TEMP_FILE_PREFIX}dead-writer-1`), Buffer.from('half an obj'));
      await fs.writeFile(path.join(root, `${TEMP_FILE_PREFIX}dead-writer-2`), Buffer.from('half'));
      expect(await store.list('')).to.deep.equal([]);
      expect(await store.list('v0.1/b1/')).to.deep.equal([]);
      expect(await store.list('v0.1/b1/.tmp')).to.deep.equal([]);
      await expectRejection(store.get('v0.1/b1/input'), ObjectNotFoundError);
      expect(await store.exists('v0.1/b1/input')).to.equal(false);

      // A later writer is not disturbed by the leftover.
      await store.put('v0.1/b1/input', Buffer.from('complete'));
      expect(await store.list('')).to.deep.equal(['v0.1/b1/input']);
      expect((await store.get('v0.1/b1/input')).toString()).to.equal('complete');
    });

    it('a crash while replacing an object leaves the previous version visible', async () => {
      await store.put('obj', Buffer.from('version 1, complete'));
      await fs.writeFile(path.join(root, `${TEMP_FILE_PREFIX}dead-writer`), Buffer.from('version 2, trunc'));
      expect((await store.get('obj')).toString()).to.equal('version 1, complete');
      expect(await store.list('')).to.deep.equal(['obj']);
    });

    it('sweepTempFiles removes old leftovers and keeps young ones and objects', async () => {
      await store.put('a/obj', Buffer.from('keep'));
      const old = path.join(root, 'a', `${TEMP_FILE_PREFIX}old`);
      const young = path.join(root, 'a', `${TEMP_FILE_PREFIX}young`);
      await fs.writeFile(old, 'x');
      await fs.writeFile(young, 'y');
      const hourAgo = new Date(Date.now() - 2 * 3600_000);
      await fs.utimes(old, hourAgo, hourAgo);
      expect(await store.sweepTempFiles(3600_000)).to.equal(1);
      expect(await tree(root)).to.deep.equal(['a', `a/${TEMP_FILE_PREFIX}young`, 'a/obj']);
      expect(await store.sweepTempFiles(0)).to.equal(1);
      expect(await tree(root)).to.deep.equal(['a', 'a/obj']);
    });

    it('delete removes folders that became empty, up to (not including) the root', async () => {
      await store.put('v0.1/b1/run0/proof/r0/c1/d0/s0', Buffer.from('p'));
      await store.put('v0.1/b1/run0/input', Buffer.from('i'));
      await store.delete('v0.1/b1/run0/proof/r0/c1/d0/s0');
      expect(await tree(root)).to.deep.equal(['v0.1', 'v0.1/b1', 'v0.1/b1/run0', 'v0.1/b1/run0/input']);
      await store.delete('v0.1/b1/run0/input');
      expect(await tree(root)).to.deep.equal([]);
      expect((await fs.stat(root)).isDirectory()).to.equal(true);
    });

    it('recovers when a cached folder is removed behind its back', async () => {
      await store.put('x/y/one', Buffer.from('1'));
      await fs.rm(path.join(root, 'x'), { recursive: true });
      await store.put('x/y/two', Buffer.from('2'));
      expect(await store.list('')).to.deep.equal(['x/y/two']);
      await fs.rm(root, { recursive: true });
      await store.put('x/y/three', Buffer.from('3'));
      expect(await store.list('')).to.deep.equal(['x/y/three']);
    });

    it('puts and deletes racing in the same folders stay consistent', async function () {
      this.timeout(60_000);
      // Deletes prune folders that concurrent puts are about to write into.
      for (let round = 0; round < 40; round++) {
        await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const key = `race/f${i % 3}/deep/k${i}`;
            await store.put(key, Buffer.from(key));
            await store.delete(key);
            await store.put(key, Buffer.from(key));
          }),
        );
        const keys = await store.list('race/');
        expect(keys).to.have.length(20);
        for (const key of keys) expect((await store.get(key)).toString()).to.equal(key);
        await Promise.all(keys.map((k) => store.delete(k)));
        expect(await tree(root)).to.deep.equal([]);
      }
    });

    it('reports a key that is both an object and a folder as a KeyConflictError', async () => {
      await store.put('a/b', Buffer.from('object'));
      const below = await expectRejection(store.put('a/b/c', Buffer.from('x')), KeyConflictError);
      expect(below.key).to.equal('a/b/c');
      await store.put('x/y/z', Buffer.from('object'));
      await expectRejection(store.put('x/y', Buffer.from('x')), KeyConflictError);
      await expectRejection(store.putIfAbsent('x/y', Buffer.from('x')), KeyConflictError);
      expect(await store.list('')).to.deep.equal(['a/b', 'x/y/z']);
      expect(await tree(root)).to.deep.equal(['a', 'a/b', 'x', 'x/y', 'x/y/z']);
    });

    it('writers in several processes racing on one key leave one complete version, readers see only complete ones', async function () {
      this.timeout(120_000);
      const key = 'multi/process/obj';
      const bytes = 512 * 1024;
      await store.put(key, makePayload(999_999, bytes));
      const worker = path.join(__dirname, 'fixtures', 'put-worker.ts');
      const tsx = require.resolve('tsx/cjs');
      const procs = Array.from({ length: 4 }, (_, p) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, ['--require', tsx, worker, root, key, String(p * 1000), '40', String(bytes)], {
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          let stderr = '';
          child.stderr.on('data', (d) => (stderr += d));
          child.on('error', reject);
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer ${p} exited ${code}: ${stderr}`))));
        }),
      );
      let done = false;
      const all = Promise.all(procs).finally(() => (done = true));
      const seen = new Set<number>();
      let reads = 0;
      const readers = Array.from({ length: 4 }, async () => {
        while (!done) {
          seen.add(checkPayload(await store.get(key), bytes));
          reads++;
        }
      });
      await Promise.all([all, ...readers]);
      const last = checkPayload(await store.get(key), bytes);
      expect(last % 1000).to.be.below(40);
      expect(reads).to.be.greaterThan(0);
      expect(seen.size).to.be.greaterThan(1);
      const files = await tree(root);
      expect(files.filter((f) => path.basename(f).startsWith(TEMP_FILE_PREFIX))).to.deep.equal([]);
    });

    it('describes itself with its root folder', () => {
      expect(store.describe()).to.equal(`local:${root}`);
      expect(new LocalObjectStore(root, { fsync: true }).describe()).to.equal(`local:${root} (fsync)`);
    });

    it('resolves a relative root against the working folder', () => {
      expect(new LocalObjectStore('some/rel').root).to.equal(path.resolve('some/rel'));
    });
  });
});
