import * as path from 'node:path';

import { expect } from 'chai';

import { endpoints } from '../../lib/endpoints';
import {
  GcsObjectStore,
  InvalidKeyError,
  LocalObjectStore,
  ObjectStoreError,
  compareKeys,
  createObjectStore,
  validateKey,
  validatePrefix,
} from '../../storage';

describe('createObjectStore', () => {
  const savedEnv = process.env.GCS_EMULATOR_URL;

  afterEach(() => {
    if (savedEnv === undefined) delete process.env.GCS_EMULATOR_URL;
    else process.env.GCS_EMULATOR_URL = savedEnv;
  });

  it('opens the local backend for a file:// URL', () => {
    const store = createObjectStore('file:///var/tmp/prover-store');
    expect(store).to.be.instanceOf(LocalObjectStore);
    expect((store as LocalObjectStore).root).to.equal('/var/tmp/prover-store');
    expect((store as LocalObjectStore).fsync).to.equal(false);
  });

  it('decodes percent-escapes in file URLs and reads the fsync parameter', () => {
    const store = createObjectStore('file:///var/tmp/with%20space?fsync=1') as LocalObjectStore;
    expect(store.root).to.equal('/var/tmp/with space');
    expect(store.fsync).to.equal(true);
    expect((createObjectStore('file:///x?fsync') as LocalObjectStore).fsync).to.equal(true);
    expect((createObjectStore('file:///x?fsync=0') as LocalObjectStore).fsync).to.equal(false);
    expect((createObjectStore('file:///x', { fsync: true }) as LocalObjectStore).fsync).to.equal(true);
  });

  it('opens the local backend for plain paths, relative ones against the working folder', () => {
    expect((createObjectStore('/srv/store') as LocalObjectStore).root).to.equal('/srv/store');
    expect((createObjectStore('.local/store') as LocalObjectStore).root).to.equal(path.resolve('.local/store'));
  });

  it('rejects file URLs with a host', () => {
    expect(() => createObjectStore('file://host/path')).to.throw(ObjectStoreError, /file:\/\/\/absolute\/path/);
  });

  it('opens the GCS backend for gs://bucket[/prefix]', () => {
    delete process.env.GCS_EMULATOR_URL;
    const plain = createObjectStore('gs://proofs') as GcsObjectStore;
    expect(plain).to.be.instanceOf(GcsObjectStore);
    expect(plain.bucketName).to.equal('proofs');
    expect(plain.prefix).to.equal('');
    expect(plain.emulatorUrl).to.equal(undefined);
    const prefixed = createObjectStore('gs://proofs/prod/prover/') as GcsObjectStore;
    expect(prefixed.prefix).to.equal('prod/prover');
    expect(prefixed.objectName('v0.1/b1/run0/input')).to.equal('prod/prover/v0.1/b1/run0/input');
    expect(prefixed.describe()).to.equal('gcs:gs://proofs/prod/prover');
  });

  it('chooses the emulator from the option, the URL or GCS_EMULATOR_URL', () => {
    delete process.env.GCS_EMULATOR_URL;
    const emu = (url: string, opts = {}) => (createObjectStore(url, opts) as GcsObjectStore).emulatorUrl;
    expect(emu('gs://b-1', { emulator: true })).to.equal(endpoints.gcsEmulatorUrl);
    expect(emu('gs://b-1', { emulator: 'http://127.0.0.1:9' })).to.equal('http://127.0.0.1:9');
    expect(emu('gs://b-1?emulator=1')).to.equal(endpoints.gcsEmulatorUrl);
    expect(emu('gs://b-1/p?emulator')).to.equal(endpoints.gcsEmulatorUrl);
    expect(emu('gs://b-1/p?emulator=http://127.0.0.1:7')).to.equal('http://127.0.0.1:7');
    expect(emu('gs://b-1')).to.equal(undefined);
    process.env.GCS_EMULATOR_URL = 'http://127.0.0.1:8';
    expect(emu('gs://b-1')).to.equal('http://127.0.0.1:8');
    expect(emu('gs://b-1', { emulator: false })).to.equal(undefined);
    expect(emu('gs://b-1?emulator=0')).to.equal(undefined);
    expect(() => createObjectStore('gs://b-1?emulator=maybe')).to.throw(ObjectStoreError, /emulator/);
  });

  it('rejects empty, malformed and unknown URLs with a clear error', () => {
    expect(() => createObjectStore('')).to.throw(ObjectStoreError, /empty/);
    expect(() => createObjectStore('s3://bucket/x')).to.throw(ObjectStoreError, /unsupported object store URL/);
    expect(() => createObjectStore('gs://')).to.throw(ObjectStoreError, /invalid GCS URL/);
    expect(() => createObjectStore('gs://Bad_Bucket')).to.throw(ObjectStoreError, /invalid bucket name/);
    expect(() => createObjectStore('gs://bucket//x')).to.not.throw();
    expect(() => createObjectStore('gs://bucket/a/../b')).to.throw(ObjectStoreError, /invalid prefix/);
  });
});

describe('object keys', () => {
  it('accepts the pipeline key layout', () => {
    for (const key of [
      'v0.1/b1/run0/input',
      'v0.1/b1/run0/witness/c3/s17',
      'v0.1/b123456/run2/proof/r2/c5/d1/s0',
      'single',
    ]) {
      validateKey(key);
    }
  });

  it('names the key and the rule in the error', () => {
    try {
      validateKey('a/../b');
      expect.fail('no error');
    } catch (err) {
      expect(err).to.be.instanceOf(InvalidKeyError);
      expect((err as InvalidKeyError).key).to.equal('a/../b');
      expect((err as Error).message).to.equal('invalid object key "a/../b": must not contain ".." segments');
    }
    expect(() => validateKey('/abs')).to.throw(/no leading "\/"/);
    expect(() => validateKey('a\u0000b')).to.throw(/NUL/);
    expect(() => validateKey('a//b')).to.throw(/empty segments/);
  });

  it('validates list prefixes more loosely', () => {
    for (const p of ['', 'a', 'a/', 'a/b', 'a/.', 'a/..']) validatePrefix(p);
    for (const p of ['/', '//', 'a//b', './', '../x']) expect(() => validatePrefix(p), p).to.throw(InvalidKeyError);
  });

  it('orders keys by the bytes of their UTF-8 encoding', () => {
    const keys = ['b', 'a/b', 'a-b', 'a', '\uffee', '😀', 'é', 'Z', ''];
    const bytewise = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...keys].sort(compareKeys)).to.deep.equal(bytewise);
  });
});
