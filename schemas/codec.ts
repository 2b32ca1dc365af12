// Avro single-object encoding of the pipeline's messages:
//   0xC3 0x01 | CRC-64-AVRO fingerprint of the writer schema (8 bytes, little-endian) | body
// Decoding finds the writer schema by fingerprint and resolves the body into the current shape.
import type { Type } from 'avsc';
import {
  CodecError,
  InvalidMessageError,
  MalformedMessageError,
  MessageTypeMismatchError,
  UnknownMessageTypeError,
  UnknownSchemaError,
} from './errors';
import { fingerprintHex } from './fingerprint';
import { HEADER_LENGTH, SchemaEntry, SchemaRegistry } from './registry';
import type { AnyMessage, MessageTypes } from './types';
import { BodyError } from './validate';

const INITIAL_SCRATCH = 64 * 1024;
/** Scratch buffers up to this size are kept for the next encode. */
const MAX_KEPT_SCRATCH = 4 * 1024 * 1024;

function asBuffer(buf: Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Where a value departs from its schema, e.g. `ProverJob.level_size: 1.5 is not a valid int`. */
function describeInvalid(name: string, type: Type, value: unknown): string {
  const problems: string[] = [];
  try {
    type.isValid(value, {
      errorHook(path: string[], any: unknown, t: Type) {
        if (problems.length < 5) {
          const where = [name, ...path].join('.');
          problems.push(`${where}: ${safeString(any)} is not a valid ${t.typeName}`);
        }
      },
    });
  } catch {
    // isValid itself may choke on exotic values; the generic message below still applies.
  }
  return problems.length > 0 ? problems.join('; ') : `value is not a valid ${name}`;
}

function safeString(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  try {
    const s = JSON.stringify(value);
    return s === undefined ? String(value) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Header facts of a message, read without decoding its body. */
export interface MessageHeader {
  fingerprint: bigint;
  fingerprintHex: string;
  /** The writer schema, when registered. */
  entry: SchemaEntry | undefined;
}

export class Codec<M = MessageTypes> {
  private scratch = Buffer.allocUnsafe(INITIAL_SCRATCH);

  constructor(readonly registry: SchemaRegistry) {}

  private currentEntry(name: string): SchemaEntry {
    const message = this.registry.message(name);
    if (!message) throw new UnknownMessageTypeError(name);
    return message.current;
  }

  /** Single-object encoding of `value` with the message's current schema. */
  encode<N extends keyof M & string>(name: N, value: M[N]): Buffer {
    const entry = this.currentEntry(name);
    const type = entry.type;
    let scratch = this.scratch;
    for (;;) {
      let end: number;
      try {
        end = type.encode(value, scratch, HEADER_LENGTH);
      } catch (err) {
        throw new InvalidMessageError(describeInvalid(name, type, value), { cause: err });
      }
      if (end >= 0) {
        const out = Buffer.allocUnsafe(end);
        entry.header.copy(out, 0);
        scratch.copy(out, HEADER_LENGTH, HEADER_LENGTH, end);
        return out;
      }
      // avsc reports the number of missing bytes as a negative count.
      const needed = scratch.length - end;
      scratch = Buffer.allocUnsafe(Math.max(needed, scratch.length * 2));
      if (scratch.length <= MAX_KEPT_SCRATCH) this.scratch = scratch;
    }
  }

  /** Checks the marker and length. */
  private checkHeader(b: Buffer): void {
    if (b.length < HEADER_LENGTH) {
      throw new MalformedMessageError(`message too short for a single-object header (${b.length} bytes)`);
    }
    if (b[0] !== 0xc3 || b[1] !== 0x01) {
      throw new MalformedMessageError(
        `not a single-object encoded message (marker ${b.subarray(0, 2).toString('hex')}, expected c301)`,
      );
    }
  }

  private writerOf(b: Buffer): SchemaEntry {
    this.checkHeader(b);
    const entry = this.registry.byFingerprintAt(b, 2);
    if (!entry) throw new UnknownSchemaError(fingerprintHex(b.readBigUInt64LE(2)));
    return entry;
  }

  /** Reads and checks the header (marker, length) without decoding the body. */
  header(buf: Uint8Array): MessageHeader {
    const b = asBuffer(buf);
    this.checkHeader(b);
    const fingerprint = b.readBigUInt64LE(2);
    return { fingerprint, fingerprintHex: fingerprintHex(fingerprint), entry: this.registry.byFingerprint(fingerprint) };
  }

  private body(entry: SchemaEntry, b: Buffer): unknown {
    let end: number;
    try {
      end = entry.walk(b, HEADER_LENGTH);
    } catch (err) {
      const reason = err instanceof BodyError ? err.message : 'unreadable body';
      throw new MalformedMessageError(`invalid ${entry.name} body: ${reason}`, { cause: err });
    }
    if (end !== b.length) {
      throw new MalformedMessageError(`invalid ${entry.name} body: ${b.length - end} trailing bytes`);
    }
    let decoded: { value: unknown; offset: number };
    try {
      decoded = entry.reader.decode(b, HEADER_LENGTH, entry.resolver);
    } catch (err) {
      throw new MalformedMessageError(`invalid ${entry.name} body: ${(err as Error).message}`, { cause: err });
    }
    if (decoded.offset !== b.length) {
      throw new MalformedMessageError(`invalid ${entry.name} body: truncated or trailing bytes`);
    }
    return decoded.value;
  }

  /**
   * Decodes a message that must be of type `name`, in the current shape of that type (a message
   * from an older writer is resolved: new fields get their defaults, removed ones are dropped).
   * Throws MalformedMessageError, UnknownSchemaError or MessageTypeMismatchError.
   */
  decode<N extends keyof M & string>(name: N, buf: Uint8Array): M[N] {
    const b = asBuffer(buf);
    const entry = this.writerOf(b);
    if (entry.name !== name) {
      if (!this.registry.has(name)) throw new UnknownMessageTypeError(name);
      throw new MessageTypeMismatchError(name, entry.name);
    }
    return this.body(entry, b) as M[N];
  }

  /** Decodes a message of any registered type. */
  decodeAny(buf: Uint8Array): AnyMessage<M> {
    const b = asBuffer(buf);
    const entry = this.writerOf(b);
    return { name: entry.name, value: this.body(entry, b) } as AnyMessage<M>;
  }

  /** Like decodeAny, but returns the CodecError instead of throwing it. */
  tryDecodeAny(buf: Uint8Array): { ok: true; message: AnyMessage<M> } | { ok: false; error: CodecError } {
    try {
      return { ok: true, message: this.decodeAny(buf) };
    } catch (err) {
      if (err instanceof CodecError) return { ok: false, error: err };
      throw err;
    }
  }
}

let defaultCodec: Codec<MessageTypes> | undefined;

/** The codec over the repository's schemas (loaded on first use). */
export function getCodec(): Codec<MessageTypes> {
  if (!defaultCodec) defaultCodec = new Codec<MessageTypes>(SchemaRegistry.load());
  return defaultCodec;
}

/** `getCodec().encode(...)`. */
export function encode<N extends keyof MessageTypes>(name: N, value: MessageTypes[N]): Buffer {
  return getCodec().encode(name, value);
}

/** `getCodec().decode(...)`. */
export function decode<N extends keyof MessageTypes>(name: N, buf: Uint8Array): MessageTypes[N] {
  return getCodec().decode(name, buf);
}

/** `getCodec().decodeAny(...)`. */
export function decodeAny(buf: Uint8Array): AnyMessage<MessageTypes> {
  return getCodec().decodeAny(buf);
}
