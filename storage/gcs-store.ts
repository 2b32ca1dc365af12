// Google Cloud Storage backend, through @google-cloud/storage. In production it uses the default
// credentials of the environment; locally it talks to the fake-gcs-server emulator.
//
// Atomicity comes from GCS itself: an upload creates a new object generation that becomes
// visible only when the upload completes, and a download reads one generation. Concurrent
// writers of one key each create a generation; the last to complete is the live one.
import { IdempotencyStrategy, Storage } from '@google-cloud/storage';
import type { Bucket, File, StorageOptions } from '@google-cloud/storage';

import {
  InvalidKeyError,
  ObjectNotFoundError,
  ObjectStoreError,
  ObjectStore,
  compareKeys,
  validateKey,
  validatePrefix,
} from './object-store';

export interface GcsObjectStoreOptions {
  /** Bucket name. */
  bucket: string;
  /** Optional folder inside the bucket: keys map to `<prefix>/<key>`. */
  prefix?: string;
  /**
   * Endpoint of an emulator (e.g. fake-gcs-server at http://127.0.0.1:14443). When set, no
   * credentials are used and the bucket is created if missing. Unset: real GCS with the default
   * credentials of the environment (Application Default Credentials).
   */
  emulatorUrl?: string;
  /** Project id; a dummy one is used with the emulator. Real GCS: taken from the environment when unset. */
  projectId?: string;
  /** Create the bucket when it does not exist. Default: true with the emulator, false otherwise. */
  createBucketIfMissing?: boolean;
  /**
   * Objects of this size or larger are uploaded with a resumable upload (several requests, can
   * resume after a broken connection); smaller ones in one multipart request. Default 8 MiB.
   */
  resumableThreshold?: number;
  /** A ready client to use instead of building one (its own retry settings then apply). */
  storage?: Storage;
}

const DEFAULT_RESUMABLE_THRESHOLD = 8 * 1024 * 1024;
const EMULATOR_PROJECT_ID = 'local-emulator';
const LIST_PAGE_SIZE = 1000;
// Bucket names: 3-63 characters (up to 222 with dots), lowercase letters, digits, '-', '_', '.',
// starting and ending with a letter or digit.
const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

function httpStatusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export class GcsObjectStore implements ObjectStore {
  readonly bucketName: string;
  /** '' or the folder inside the bucket, without a trailing '/'. */
  readonly prefix: string;
  readonly emulatorUrl: string | undefined;
  readonly storage: Storage;
  private readonly bucket: Bucket;
  private readonly objectPrefix: string;
  private readonly createBucket: boolean;
  private readonly resumableThreshold: number;
  private bucketReady: Promise<void> | undefined;
  private bucketChecked = false;

  constructor(options: GcsObjectStoreOptions) {
    if (!BUCKET_NAME.test(options.bucket ?? '') || options.bucket.includes('..')) {
      throw new ObjectStoreError(`GCS object store: invalid bucket name ${JSON.stringify(options.bucket)}`);
    }
    const prefix = (options.prefix ?? '').replace(/\/+$/, '');
    if (prefix !== '') {
      try {
        validateKey(prefix);
      } catch (err) {
        throw new ObjectStoreError(`GCS object store: invalid prefix: ${(err as InvalidKeyError).reason ?? err}`, { cause: err });
      }
    }
    this.bucketName = options.bucket;
    this.prefix = prefix;
    this.objectPrefix = prefix === '' ? '' : `${prefix}/`;
    this.emulatorUrl = options.emulatorUrl?.replace(/\/+$/, '');
    this.createBucket = options.createBucketIfMissing ?? this.emulatorUrl !== undefined;
    this.bucketChecked = !this.createBucket;
    this.resumableThreshold = options.resumableThreshold ?? DEFAULT_RESUMABLE_THRESHOLD;
    this.storage = options.storage ?? new Storage(this.clientOptions(options));
    this.bucket = this.storage.bucket(this.bucketName);
  }

  private clientOptions(options: GcsObjectStoreOptions): StorageOptions {
    // Object writes in this project are idempotent (a key is always written with the same bytes
    // for a given job id), so every request may be retried, uploads without preconditions
    // included; the library's default retries only requests it can prove idempotent.
    const retryOptions = { idempotencyStrategy: IdempotencyStrategy.RetryAlways };
    if (this.emulatorUrl !== undefined) {
      // A custom apiEndpoint makes the library skip authentication (useAuthWithCustomEndpoint
      // defaults to false), which is what the emulator expects.
      return { apiEndpoint: this.emulatorUrl, projectId: options.projectId ?? EMULATOR_PROJECT_ID, retryOptions };
    }
    return { ...(options.projectId ? { projectId: options.projectId } : {}), retryOptions };
  }

  describe(): string {
    const where = `gs://${this.bucketName}${this.prefix ? `/${this.prefix}` : ''}`;
    return `gcs:${where}${this.emulatorUrl ? ` (emulator ${this.emulatorUrl})` : ''}`;
  }

  /** The full object name of `key` in the bucket. */
  objectName(key: string): string {
    validateKey(key);
    return this.objectPrefix + key;
  }

  async put(key: string, data: Buffer): Promise<void> {
    const file = await this.file(key);
    try {
      await file.save(data, this.saveOptions(data));
    } catch (err) {
      throw this.error('writing', key, err);
    }
  }

  async putIfAbsent(key: string, data: Buffer): Promise<boolean> {
    const file = await this.file(key);
    try {
      // Precondition "generation 0": the upload succeeds only if no live object has this name.
      // With retries on, a retry of an upload whose reply was lost answers 412 too: false then
      // means "an object is there", possibly the one this call wrote.
      await file.save(data, { ...this.saveOptions(data), preconditionOpts: { ifGenerationMatch: 0 } });
      return true;
    } catch (err) {
      if (httpStatusOf(err) === 412) return false;
      throw this.error('writing', key, err);
    }
  }

  async get(key: string): Promise<Buffer> {
    const file = await this.file(key);
    try {
      return await downloadConsistent(file);
    } catch (err) {
      // A missing bucket also answers 404; GCS says so in the message ("The specified bucket does
      // not exist"). That is a configuration error, not a missing object.
      if (httpStatusOf(err) === 404 && !/bucket does not exist/i.test((err as Error).message ?? '')) {
        throw new ObjectNotFoundError(key, this.describe(), { cause: err });
      }
      throw this.error('reading', key, err);
    }
  }

  async exists(key: string): Promise<boolean> {
    const file = await this.file(key);
    try {
      const [exists] = await file.exists();
      return exists;
    } catch (err) {
      throw this.error('checking', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    const file = await this.file(key);
    try {
      await file.delete({ ignoreNotFound: true });
    } catch (err) {
      if (httpStatusOf(err) === 404) return;
      throw this.error('deleting', key, err);
    }
  }

  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    await this.ensureBucket();
    const keys: string[] = [];
    const skip = this.objectPrefix.length;
    let pageToken: string | undefined;
    try {
      do {
        const [files, next] = await this.bucket.getFiles({
          prefix: this.objectPrefix + prefix,
          autoPaginate: false,
          maxResults: LIST_PAGE_SIZE,
          pageToken,
        });
        for (const f of files) {
          const key = f.name.slice(skip);
          // Objects written by other tools may have names that are not valid keys (such as
          // "folder/" placeholders); they are not objects of this store.
          if (isValidKey(key)) keys.push(key);
        }
        pageToken = (next as { pageToken?: string } | null | undefined)?.pageToken;
      } while (pageToken);
    } catch (err) {
      throw new ObjectStoreError(`${this.describe()}: listing "${prefix}" failed: ${(err as Error).message}`, { cause: err });
    }
    return keys.sort(compareKeys);
  }

  /** Creates the bucket if it is missing and creation is enabled; runs at most once successfully. */
  ensureBucket(): Promise<void> {
    if (this.bucketChecked) return Promise.resolve();
    this.bucketReady ??= this.createBucketIfMissing().then(
      () => {
        this.bucketChecked = true;
      },
      (err) => {
        this.bucketReady = undefined;
        throw new ObjectStoreError(`${this.describe()}: preparing the bucket failed: ${(err as Error).message}`, { cause: err });
      },
    );
    return this.bucketReady;
  }

  // ---- internals ----

  private async createBucketIfMissing(): Promise<void> {
    const [exists] = await this.bucket.exists();
    if (exists) return;
    try {
      await this.storage.createBucket(this.bucketName);
    } catch (err) {
      if (httpStatusOf(err) !== 409) throw err; // 409: created meanwhile by someone else
    }
  }

  private async file(key: string): Promise<File> {
    const name = this.objectName(key);
    if (!this.bucketChecked) await this.ensureBucket();
    return this.bucket.file(name);
  }

  private saveOptions(data: Buffer) {
    return {
      resumable: data.length >= this.resumableThreshold,
      contentType: 'application/octet-stream',
    };
  }

  private error(action: string, key: string, err: unknown): ObjectStoreError {
    if (err instanceof ObjectStoreError) return err;
    const status = httpStatusOf(err);
    return new ObjectStoreError(
      `${this.describe()}: ${action} "${key}" failed${status ? ` (HTTP ${status})` : ''}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * Downloads an object; when the client's hash check fails because the object was replaced
 * while it was being read (the body of one generation, the hash of another), reads it again.
 */
async function downloadConsistent(file: { download(): Promise<[Buffer]> }, attempts = 5): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    try {
      const [data] = await file.download();
      return data;
    } catch (err) {
      if (attempt >= attempts || !/did not match the data from the server/i.test((err as Error).message ?? '')) throw err;
    }
  }
}
