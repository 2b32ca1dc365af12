// The behaviour every ObjectStore backend must have. Each backend's test file calls
// `objectStoreContract` with a function that opens a fresh, empty store.
import { createHash, randomBytes } from 'node:crypto';

import { expect } from 'chai';

import { InvalidKeyError, ObjectNotFoundError, ObjectStore, ObjectStoreError, isObjectNotFound } from '../../storage';

export interface OpenedStore {
  store: ObjectStore;
  /** Removes what the test left behind. */
  close?: () => Promise<void>;
}

export interface ContractOptions {
  /** Writers racing on one key in the concurrency tests. */
  concurrentWriters: number;
  /** Size of each racing writer's object. */
  payloadBytes: number;
  /** Readers polling the key while the writers race. */
  concurrentReaders: number;
}

export async function expectRejection<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (err) {
    expect(err, `expected ${type.name}, got ${String(err)}`).to.be.instanceOf(type);
    return err as E;
  }
  expect.fail(`expected a rejection with ${type.name}, but the call succeeded`);
}

/**
 * A self-checking payload: 32 bytes of SHA-256 of the rest, then a 4-byte writer id, then filler
 * derived from the id. `checkPayload` tells a complete payload from a torn or mixed one.
 */
export function makePayload(writer: number, bytes: number): Buffer {
  const body = Buffer.alloc(Math.max(bytes - 32, 4));
  body.writeUInt32BE(writer, 0);
  for (let i = 4; i < body.length; i++) body[i] = (writer * 31 + i * 7) & 0xff;
  return Buffer.concat([createHash('sha256').update(body).digest(), body]);
}

export function checkPayload(data: Buffer, bytes: number): number {
  expect(data.length, 'object length').to.equal(Math.max(bytes - 32, 4) + 32);
  const digest = createHash('sha256').update(data.subarray(32)).digest();
  expect(digest.equals(data.subarray(0, 32)), 'object content is one complete version').to.equal(true);
  return data.readUInt32BE(32);
}

const INVALID_KEYS: [string, unknown][] = [
  ['empty', ''],
  ['leading slash', '/a/b'],
  ['trailing slash', 'a/b/'],
  ['empty segment', 'a//b'],
  ['dot-dot segment', 'a/../b'],
  ['dot-dot alone', '..'],
  ['dot segment', 'a/./b'],
  ['NUL', 'a/b\u0000c'],
  ['newline', 'a/b\nc'],
  ['reserved temp prefix', 'a/.tmp~x'],
  ['too long segment', `a/${'x'.repeat(201)}`],
  ['too long key', `${'abcdefghi/'.repeat(95)}x`],
  ['unpaired surrogate', 'a/\ud800b'],
  ['not a string', 42],
];

export function objectStoreContract(open: () => Promise<OpenedStore>, options: ContractOptions): void {
  let store: ObjectStore;
  let opened: OpenedStore;

  beforeEach(async () => {
    opened = await open();
    store = opened.store;
  });

  afterEach(async () => {
    await opened?.close?.();
  });

  describe('put/get', () => {
    it('round-trips text, binary and empty objects', async () => {
      const text = Buffer.from('hello object store\n', 'utf8');
      const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const random = randomBytes(100_000);
      const empty = Buffer.alloc(0);
      await store.put('v0.1/b1/run0/input', text);
      await store.put('v0.1/b1/run0/witness/c1/s0', binary);
      await store.put('v0.1/b1/run0/proof/r0/c1/d0/s0', random);
      await store.put('empty', empty);
      expect((await store.get('v0.1/b1/run0/input')).equals(text)).to.equal(true);
      expect((await store.get('v0.1/b1/run0/witness/c1/s0')).equals(binary)).to.equal(true);
      expect((await store.get('v0.1/b1/run0/proof/r0/c1/d0/s0')).equals(random)).to.equal(true);
      const got = await store.get('empty');
      expect(Buffer.isBuffer(got)).to.equal(true);
      expect(got.length).to.equal(0);
    });

    it('accepts keys with unusual but valid characters', async () => {
      const keys = ['a b/c d', 'ünï/cødé/日本', 'x/.hidden', 'x/...', 'x/a..b', 'emoji/😀', 'x/-_=+%#?&'];
      for (const [i, key] of keys.entries()) await store.put(key, Buffer.from([i]));
      for (const [i, key] of keys.entries()) expect([...(await store.get(key))]).to.deep.equal([i]);
      expect(await store.list('')).to.have.members(keys);
    });

    it('overwrites an existing object with the new content', async () => {
      await store.put('k/v', Buffer.from('first version, longer than the second'));
      await store.put('k/v', Buffer.from('second'));
      expect((await store.get('k/v')).toString()).to.equal('second');
      await store.put('k/v', Buffer.alloc(0));
      expect((await store.get('k/v')).length).to.equal(0);
    });

    it('returns a copy: mutating the written or read buffer does not change the object', async () => {
      const data = Buffer.from('immutable');
      await store.put('imm', data);
      data.fill(0);
      const read = await store.get('imm');
      expect(read.toString()).to.equal('immutable');
      read.fill(0);
      expect((await store.get('imm')).toString()).to.equal('immutable');
    });

    it('rejects get of a missing key with ObjectNotFoundError naming the key', async () => {
      const err = await expectRejection(store.get('no/such/key'), ObjectNotFoundError);
      expect(err.key).to.equal('no/such/key');
      expect(err.message).to.contain('no/such/key');
      expect(err.code).to.equal('OBJECT_NOT_FOUND');
      expect(isObjectNotFound(err)).to.equal(true);
      expect(err).to.be.instanceOf(ObjectStoreError);
    });

    it('treats a prefix of stored keys as missing, not as an object', async () => {
      await store.put('dir/child', Buffer.from('x'));
      await expectRejection(store.get('dir'), ObjectNotFoundError);
      expect(await store.exists('dir')).to.equal(false);
      await store.delete('dir');
      expect((await store.get('dir/child')).toString()).to.equal('x');
    });
  });

  describe('putIfAbsent', () => {
    it('creates a missing object and leaves an existing one untouched', async () => {
      expect(await store.putIfAbsent('once', Buffer.from('first'))).to.equal(true);
      expect(await store.putIfAbsent('once', Buffer.from('second'))).to.equal(false);
      expect((await store.get('once')).toString()).to.equal('first');
      expect(await store.putIfAbsent('nested/once', Buffer.alloc(0))).to.equal(true);
      expect((await store.get('nested/once')).length).to.equal(0);
    });

    it('lets exactly one of many concurrent creators win', async () => {
      const n = Math.min(options.concurrentWriters, 20);
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) => store.putIfAbsent('race/once', makePayload(i, 1024))),
      );
      expect(results.filter(Boolean)).to.have.length(1);
      const winner = checkPayload(await store.get('race/once'), 1024);
      expect(results[winner]).to.equal(true);
    });
  });

  describe('exists/delete', () => {
    it('exists reflects puts and deletes', async () => {
      expect(await store.exists('e/x')).to.equal(false);
      await store.put('e/x', Buffer.from('1'));
      expect(await store.exists('e/x')).to.equal(true);
      await store.delete('e/x');
      expect(await store.exists('e/x')).to.equal(false);
      await expectRejection(store.get('e/x'), ObjectNotFoundError);
    });

    it('delete is idempotent and leaves other objects alone', async () => {
      await store.put('d/a', Buffer.from('a'));
      await store.put('d/b', Buffer.from('b'));
      await store.delete('d/a');
      await store.delete('d/a');
      await store.delete('never/written');
      expect(await store.list('d/')).to.deep.equal(['d/b']);
      expect((await store.get('d/b')).toString()).to.equal('b');
    });

    it('can write a key again after deleting it and its siblings', async () => {
      await store.put('p/q/r/s', Buffer.from('1'));
      await store.delete('p/q/r/s');
      expect(await store.list('')).to.deep.equal([]);
      await store.put('p/q/r/s', Buffer.from('2'));
      expect((await store.get('p/q/r/s')).toString()).to.equal('2');
    });
  });

  describe('list', () => {
    const keys = [
      'top',
      'v0.1/b1/run0/input',
      'v0.1/b1/run0/proof/r0/c1/d0/s0',
      'v0.1/b1/run0/proof/r0/c1/d0/s1',
      'v0.1/b1/run0/proof/r0/c2/d0/s0',
      'v0.1/b1/run0/witness/c1/s0',
      'v0.1/b10/run0/input',
      'v0.1/b2/run0/input',
      'v0.2/b1/run0/input',
    ];

    beforeEach(async () => {
      // Written out of order.
      for (const key of [...keys].reverse()) await store.put(key, Buffer.from(key));
    });

    it('lists every key, sorted, with an empty prefix', async () => {
      expect(await store.list('')).to.deep.equal(keys);
    });

    it('lists by folder prefix', async () => {
      expect(await store.list('v0.1/b1/run0/proof/')).to.deep.equal([
        'v0.1/b1/run0/proof/r0/c1/d0/s0',
        'v0.1/b1/run0/proof/r0/c1/d0/s1',
        'v0.1/b1/run0/proof/r0/c2/d0/s0',
      ]);
      expect(await store.list('v0.1/b1/run0/proof/r0/c2/')).to.deep.equal(['v0.1/b1/run0/proof/r0/c2/d0/s0']);
      expect(await store.list('v0.2/')).to.deep.equal(['v0.2/b1/run0/input']);
    });

    it('treats the prefix as a plain string prefix, as GCS does', async () => {
      expect(await store.list('v0.1/b1')).to.deep.equal([
        'v0.1/b1/run0/input',
        'v0.1/b1/run0/proof/r0/c1/d0/s0',
        'v0.1/b1/run0/proof/r0/c1/d0/s1',
        'v0.1/b1/run0/proof/r0/c2/d0/s0',
        'v0.1/b1/run0/witness/c1/s0',
        'v0.1/b10/run0/input',
      ]);
      expect(await store.list('v0.1/b1/run0/proof/r0/c1/d0/s1')).to.deep.equal(['v0.1/b1/run0/proof/r0/c1/d0/s1']);
      expect(await store.list('t')).to.deep.equal(['top']);
    });

    it('returns an empty list when nothing matches', async () => {
      expect(await store.list('v9/')).to.deep.equal([]);
      expect(await store.list('v0.1/b1/run0/input/')).to.deep.equal([]);
      expect(await store.list('nothing')).to.deep.equal([]);
    });

    it('sorts in byte order of the UTF-8 keys', async () => {
      const more = ['s/Z', 's/a', 's/é', 's/\uffee', 's/😀', 's/1', 's/ab/c', 's/ab-c', 's/ab0', 's/ab.'];
      for (const key of more) await store.put(key, Buffer.from('x'));
      const expected = [...more].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(await store.list('s/')).to.deep.equal(expected);
    });

    it('lists many objects across pages', async function () {
      this.timeout(120_000);
      // More than one page of a GCS listing (1000 names).
      const many = Array.from({ length: 1050 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      for (let i = 0; i < many.length; i += 50) {
        await Promise.all(many.slice(i, i + 50).map((key) => store.put(key, Buffer.from('m'))));
      }
      expect(await store.list('many/')).to.deep.equal(many);
    });
  });

  describe('key validation', () => {
    for (const [what, key] of INVALID_KEYS) {
      it(`rejects a key with ${what} in every operation`, async () => {
        const k = key as string;
        for (const op of [
          () => store.put(k, Buffer.from('x')),
          () => store.putIfAbsent(k, Buffer.from('x')),
          () => store.get(k),
          () => store.exists(k),
          () => store.delete(k),
        ]) {
          let thrown: unknown;
          try {
            await op();
          } catch (err) {
            thrown = err;
          }
          expect(thrown, `operation with key ${JSON.stringify(key)}`).to.be.instanceOf(InvalidKeyError);
          expect((thrown as InvalidKeyError).message).to.match(/invalid object key/);
        }
      });
    }

    it('rejects invalid list prefixes and accepts partial ones', async () => {
      for (const prefix of ['/a', 'a//', '../', 'a/../b', 'a\u0000']) {
        await expectRejection(store.list(prefix), InvalidKeyError);
      }
      expect(await store.list('a/')).to.deep.equal([]);
      expect(await store.list('a/.')).to.deep.equal([]);
      expect(await store.list('a/..')).to.deep.equal([]);
    });

    it('writes nothing for a rejected key', async () => {
      await expectRejection(store.put('a/../escape', Buffer.from('x')), InvalidKeyError);
      expect(await store.list('')).to.deep.equal([]);
    });
  });

  describe('concurrency', () => {
    it('many concurrent puts to one key leave one complete version', async function () {
      this.timeout(120_000);
      const { concurrentWriters: n, payloadBytes: bytes } = options;
      for (let round = 0; round < 3; round++) {
        const key = `race/r${round}/obj`;
        await Promise.all(Array.from({ length: n }, (_, i) => store.put(key, makePayload(i, bytes))));
        const winner = checkPayload(await store.get(key), bytes);
        expect(winner).to.be.within(0, n - 1);
        expect(await store.list(`race/r${round}/`)).to.deep.equal([key]);
      }
    });

    it('concurrent readers never observe partial data while writers race', async function () {
      this.timeout(120_000);
      const { concurrentWriters: n, payloadBytes: bytes, concurrentReaders: r } = options;
      const key = 'race/read-while-write';
      await store.put(key, makePayload(1_000_000, bytes));
      let writing = true;
      let reads = 0;
      const seen = new Set<number>();
      const readers = Array.from({ length: r }, async () => {
        while (writing) {
          seen.add(checkPayload(await store.get(key), bytes));
          reads++;
        }
      });
      const writers = (async () => {
        try {
          for (let wave = 0; wave < 3; wave++) {
            await Promise.all(Array.from({ length: n }, (_, i) => store.put(key, makePayload(wave * n + i, bytes))));
          }
        } finally {
          writing = false;
        }
      })();
      await Promise.all([writers, ...readers]);
      expect(reads).to.be.greaterThan(0);
      checkPayload(await store.get(key), bytes);
      expect(seen.size, 'readers saw more than the initial version').to.be.greaterThan(1);
    });
  });

  describe('describe', () => {
    it('returns a non-empty description', () => {
      expect(store.describe()).to.be.a('string').and.not.equal('');
    });
  });
}
