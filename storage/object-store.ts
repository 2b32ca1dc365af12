// The object store abstraction: a flat namespace of '/'-separated keys mapping to byte strings.
// Two backends implement it: a local folder (storage/local-store.ts) and Google Cloud Storage
// (storage/gcs-store.ts). See docs/object-store.md.

/**
 * A store of immutable-per-version byte objects addressed by key.
 *
 * Keys are relative '/'-separated paths (see {@link validateKey}). A write is atomic: a reader
 * sees either the previous complete version of an object, or the new complete version, never a
 * part of one. Concurrent writers of the same key leave exactly one of the written versions.
 */
export interface ObjectStore {
  /** Writes (creates or replaces) the object at `key`. */
  put(key: string, data: Buffer): Promise<void>;
  /**
   * Writes the object only if no object exists at `key`. Returns true when this call created it,
   * false when an object was already there (its content is left untouched).
   */
  putIfAbsent(key: string, data: Buffer): Promise<boolean>;
  /** Reads the object at `key`; rejects with {@link ObjectNotFoundError} when there is none. */
  get(key: string): Promise<Buffer>;
  /** Whether an object exists at `key`. */
  exists(key: string): Promise<boolean>;
  /** Removes the object at `key`. Removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  /**
   * The keys that start with `prefix` (a plain string prefix, as in GCS: 'a/b' matches 'a/b/c'
   * and 'a/bc'), sorted in byte order of their UTF-8 encoding. '' lists every key.
   */
  list(prefix: string): Promise<string[]>;
  /** A short human-readable description of where the objects live, for logs. */
  describe(): string;
}

/** Base class of the errors the object store raises. */
export class ObjectStoreError extends Error {
  override readonly name: string = 'ObjectStoreError';
  readonly code: string = 'OBJECT_STORE_ERROR';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** `get` of a key that has no object. */
export class ObjectNotFoundError extends ObjectStoreError {
  override readonly name = 'ObjectNotFoundError';
  override readonly code = 'OBJECT_NOT_FOUND';
  constructor(
    readonly key: string,
    where?: string,
    options?: { cause?: unknown },
  ) {
    super(`object not found: "${key}"${where ? ` in ${where}` : ''}`, options);
  }
}

/** A key (or list prefix) that breaks the key rules. */
export class InvalidKeyError extends ObjectStoreError {
  override readonly name = 'InvalidKeyError';
  override readonly code = 'INVALID_KEY';
  constructor(
    readonly key: unknown,
    readonly reason: string,
  ) {
    super(`invalid object key ${describeKey(key)}: ${reason}`);
  }
}

/**
 * A key that cannot be stored because it collides with the folder structure of other keys.
 * Only the local backend raises it: there, 'a/b' and 'a/b/c' cannot both be objects.
 */
export class KeyConflictError extends ObjectStoreError {
  override readonly name = 'KeyConflictError';
  override readonly code = 'KEY_CONFLICT';
  constructor(
    readonly key: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot store object "${key}": ${reason}`, options);
  }
}

export function isObjectNotFound(err: unknown): err is ObjectNotFoundError {
  return err instanceof ObjectNotFoundError || (err as { code?: unknown } | null)?.code === 'OBJECT_NOT_FOUND';
}

/** Longest key, in UTF-8 bytes (GCS allows 1024 for the whole object name, bucket prefix included). */
export const MAX_KEY_BYTES = 900;
/** Longest key segment, in UTF-8 bytes (file names are limited to 255 bytes; the rest is headroom). */
export const MAX_SEGMENT_BYTES = 200;
/**
 * Segments may not start with this: the local backend names its in-flight temporary files so,
 * and `list` ignores them.
 */
export const RESERVED_SEGMENT_PREFIX = '.tmp~';

// C0 controls, DEL, and unpaired UTF-16 surrogates (they have no UTF-8 encoding, so two
// different keys would collapse into the same file or object name).
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f]|\p{Cs}/u;

function describeKey(key: unknown): string {
  if (typeof key !== 'string') return `(${key === null ? 'null' : typeof key})`;
  const shown = key.length > 120 ? `${key.slice(0, 120)}…` : key;
  return JSON.stringify(shown);
}

function checkSegment(key: string, segment: string, isLast: boolean): void {
  if (segment === '') {
    throw new InvalidKeyError(key, isLast ? 'must not end with "/"' : 'must not contain empty segments ("//")');
  }
  if (segment === '.' || segment === '..') throw new InvalidKeyError(key, `must not contain "${segment}" segments`);
  if (segment.startsWith(RESERVED_SEGMENT_PREFIX)) {
    throw new InvalidKeyError(key, `segments must not start with "${RESERVED_SEGMENT_PREFIX}" (reserved for temporary files)`);
  }
  if (segment.length * 3 > MAX_SEGMENT_BYTES && Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) {
    throw new InvalidKeyError(key, `segment longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
}

function checkCommon(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new InvalidKeyError(key, 'must be a string');
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'must be relative (no leading "/")');
  if (FORBIDDEN_CHARS.test(key)) {
    throw new InvalidKeyError(key, 'must not contain NUL, control characters or unpaired surrogates');
  }
  if (key.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new InvalidKeyError(key, `longer than ${MAX_KEY_BYTES} bytes`);
  }
}

/**
 * Checks an object key, throwing {@link InvalidKeyError} with the reason when it breaks a rule:
 * a non-empty relative path of '/'-separated segments; no leading or trailing '/', no empty,
 * '.' or '..' segment; no NUL or other control character; at most {@link MAX_KEY_BYTES} bytes,
 * segments at most {@link MAX_SEGMENT_BYTES}; no segment starting with
 * {@link RESERVED_SEGMENT_PREFIX}.
 */
export function validateKey(key: unknown): asserts key is string {
  checkCommon(key);
  if (key.length === 0) throw new InvalidKeyError(key, 'must not be empty');
  let start = 0;
  for (;;) {
    const slash = key.indexOf('/', start);
    const isLast = slash < 0;
    checkSegment(key, key.slice(start, isLast ? key.length : slash), isLast);
    if (isLast) return;
    start = slash + 1;
  }
}

/**
 * Checks a `list` prefix: '' or a string whose complete segments (those followed by '/') obey the
 * key rules; the last, partial segment may be anything (or empty, for a trailing '/').
 */
export function validatePrefix(prefix: unknown): asserts prefix is string {
  checkCommon(prefix);
  let start = 0;
  for (;;) {
    const slash = prefix.indexOf('/', start);
    if (slash < 0) return;
    checkSegment(prefix, prefix.slice(start, slash), false);
    start = slash + 1;
  }
}

/** Order of keys in `list`: code point order, which is the byte order of their UTF-8 encoding. */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF; they sort after every BMP char.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
