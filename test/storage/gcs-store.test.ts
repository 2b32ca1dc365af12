// The GCS backend against the fake-gcs-server emulator (started by `bash infra/bin/services up gcs`
// at endpoints.gcsEmulatorUrl). These tests fail, not skip, when the emulator is not reachable.
import { randomBytes } from 'node:crypto';

import { Storage } from '@google-cloud/storage';
import { expect } from 'chai';

import { endpoints } from '../../lib/endpoints';
import { GcsObjectStore, ObjectNotFoundError, createObjectStore } from '../../storage';
import { expectRejection, objectStoreContract } from './contract';

const BUCKET = 'kp-storage-test';
const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
let seq = 0;

async function assertEmulatorReachable(url: string): Promise<void> {
  try {
    const res = await fetch(`${url}/storage/v1/b?project=local-emulator`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    throw new Error(
      `the GCS emulator is not reachable at ${url} (${(err as Error).message}); start it with: bash infra/bin/services up gcs`,
    );
  }
}

/** Deletes every object under `prefix` in the bucket (the emulator keeps everything in memory). */
async function removeAll(storage: Storage, bucket: string, prefix: string): Promise<void> {
  const b = storage.bucket(bucket);
  if (!(await b.exists())[0]) return;
  const [files] = await b.getFiles({ prefix });
  await Promise.all(files.map((f) => f.delete({ ignoreNotFound: true })));
}

describe('GcsObjectStore (fake-gcs-server emulator)', () => {
  const emulatorUrl = endpoints.gcsEmulatorUrl;
  let storage: Storage;

  before(async () => {
    await assertEmulatorReachable(emulatorUrl);
    storage = new Storage({ apiEndpoint: emulatorUrl, projectId: 'local-emulator' });
  });

  describe('contract', () => {
    objectStoreContract(
      async () => {
        const prefix = `contract-${runId}/t${seq++}`;
        const store = new GcsObjectStore({ bucket: BUCKET, prefix, emulatorUrl });
        return { store, close: () => removeAll(storage, BUCKET, `${prefix}/`) };
      },
      { concurrentWriters: 20, payloadBytes: 64 * 1024, concurrentReaders: 4 },
    );
  });

  describe('contract without a prefix, in a bucket of its own', () => {
    objectStoreContract(
      async () => {
        const bucket = `kp-storage-test-${runId}-${seq++}`;
        const store = new GcsObjectStore({ bucket, emulatorUrl });
        return {
          store,
          close: async () => {
            await removeAll(storage, bucket, '');
            await storage.bucket(bucket).delete({ ignoreNotFound: true });
          },
        };
      },
      { concurrentWriters: 10, payloadBytes: 16 * 1024, concurrentReaders: 2 },
    );
  });

  describe('GCS specifics', () => {
    let prefix: string;

    beforeEach(() => {
      prefix = `specific-${runId}/t${seq++}`;
    });

    afterEach(async () => {
      await removeAll(storage, BUCKET, `${prefix}/`);
    });

    it('stores each object under <prefix>/<key> in the bucket', async () => {
      const store = new GcsObjectStore({ bucket: BUCKET, prefix, emulatorUrl });
      await store.put('v0.1/b1/run0/input', Buffer.from('input'));
      expect(store.objectName('v0.1/b1/run0/input')).to.equal(`${prefix}/v0.1/b1/run0/input`);
      const [data] = await storage.bucket(BUCKET).file(`${prefix}/v0.1/b1/run0/input`).download();
      expect(data.toString()).to.equal('input');
    });

    it('keeps stores with different prefixes apart', async () => {
      const a = new GcsObjectStore({ bucket: BUCKET, prefix: `${prefix}/a`, emulatorUrl });
      const ab = new GcsObjectStore({ bucket: BUCKET, prefix: `${prefix}/ab`, emulatorUrl });
      await a.put('k', Buffer.from('a'));
      await ab.put('k', Buffer.from('ab'));
      expect(await a.list('')).to.deep.equal(['k']);
      expect(await ab.list('')).to.deep.equal(['k']);
      expect((await a.get('k')).toString()).to.equal('a');
      await a.delete('k');
      expect((await ab.get('k')).toString()).to.equal('ab');
      await expectRejection(a.get('k'), ObjectNotFoundError);
    });

    it('skips objects whose names are not valid keys when listing', async () => {
      const store = new GcsObjectStore({ bucket: BUCKET, prefix, emulatorUrl });
      await store.put('dir/obj', Buffer.from('x'));
      // Names another tool could write that are not keys of this store. (Folder placeholders
      // such as "dir/" are not used here: the emulator's filesystem backend cannot store them.)
      for (const name of ['dir/.tmp~odd', `dir/${'y'.repeat(210)}`]) {
        await storage.bucket(BUCKET).file(`${prefix}/${name}`).save(Buffer.alloc(0), { resumable: false });
      }
      expect(await store.list('')).to.deep.equal(['dir/obj']);
    });

    it('uploads large objects with a resumable upload', async () => {
      const store = new GcsObjectStore({ bucket: BUCKET, prefix, emulatorUrl, resumableThreshold: 64 * 1024 });
      const big = randomBytes(3 * 1024 * 1024 + 17);
      await store.put('big', big);
      expect((await store.get('big')).equals(big)).to.equal(true);
      expect(await store.putIfAbsent('big', Buffer.from('x'))).to.equal(false);
      expect(await store.putIfAbsent('big2', big)).to.equal(true);
      expect((await store.get('big2')).equals(big)).to.equal(true);
    });

    it('creates a missing bucket once, also under concurrent first use', async () => {
      const bucket = `kp-storage-new-${runId}`;
      const store = new GcsObjectStore({ bucket, emulatorUrl });
      try {
        expect((await storage.bucket(bucket).exists())[0]).to.equal(false);
        await Promise.all(Array.from({ length: 10 }, (_, i) => store.put(`k${i}`, Buffer.from([i]))));
        expect((await storage.bucket(bucket).exists())[0]).to.equal(true);
        expect(await store.list('')).to.have.length(10);
        // A second store on the existing bucket works as well.
        expect((await new GcsObjectStore({ bucket, emulatorUrl }).get('k3'))[0]).to.equal(3);
      } finally {
        await removeAll(storage, bucket, '');
        await storage.bucket(bucket).delete({ ignoreNotFound: true });
      }
    });

    it('rejects invalid bucket names and prefixes', () => {
      for (const bucket of ['', 'AB', 'a', 'has space', '-dash', 'dot..dot', 'x/y']) {
        expect(() => new GcsObjectStore({ bucket, emulatorUrl }), bucket).to.throw(/invalid bucket name/);
      }
      for (const p of ['/abs', 'a//b', 'a/../b']) {
        expect(() => new GcsObjectStore({ bucket: BUCKET, prefix: p, emulatorUrl }), p).to.throw(/invalid prefix/);
      }
    });

    it('describes itself with its bucket, prefix and emulator', () => {
      const store = new GcsObjectStore({ bucket: BUCKET, prefix: 'p/q', emulatorUrl });
      expect(store.describe()).to.equal(`gcs:gs://${BUCKET}/p/q (emulator ${emulatorUrl})`);
      expect(new GcsObjectStore({ bucket: BUCKET, emulatorUrl }).describe()).to.equal(`gcs:gs://${BUCKET} (emulator ${emulatorUrl})`);
    });

    it('is what createObjectStore opens for a gs:// URL with the emulator', async () => {
      const store = createObjectStore(`gs://${BUCKET}/${prefix}?emulator=1`);
      expect(store).to.be.instanceOf(GcsObjectStore);
      await store.put('via/factory', Buffer.from('f'));
      const direct = new GcsObjectStore({ bucket: BUCKET, prefix, emulatorUrl });
      expect((await direct.get('via/factory')).toString()).to.equal('f');
      expect(await direct.list('')).to.deep.equal(['via/factory']);
    });
  });
});
