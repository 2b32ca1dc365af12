// Structural check of an Avro binary body against its writer schema, run before decoding.
//
// avsc's readers assume well-formed input: on arbitrary bytes they may read past the end
// (reported only afterwards), accept out-of-range ints, or loop for a block count read from
// garbage. This walker checks every length, count, index and varint against the bytes that are
// actually there, so the decoder only ever sees a body that is exactly one value of the writer
// schema. Its work is linear in the body's length.
import type { Type } from 'avsc';
import { MAX_LONG } from './long';

/** Thrown inside the walk; the codec turns it into a MalformedMessageError. Carries no stack
 * trace, which keeps rejecting a flood of bad messages cheap. */
export class BodyError extends Error {
  constructor(message: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}

/** Returns the position just after one value starting at `pos`, or throws BodyError. */
export type BodyWalker = (buf: Uint8Array, pos: number) => number;

/** Most items a block-encoded array or map of zero-size items may declare (guards the loop). */
const MAX_ZERO_SIZE_ITEMS = 1 << 20;

// The varint readers return the value and leave the position after it in `vpos`.
let vpos = 0;

/** Zig-zag varint of at most `maxBytes` bytes. Zig-zag values of 2^53 and more lose
 * precision but still read as magnitudes of at least 2^52, which the long check rejects. */
function readVarint(buf: Uint8Array, pos: number, maxBytes: number): number {
  if (pos < buf.length) {
    const first = buf[pos];
    if (first < 0x80) {
      // One byte: the common case for lengths, counts, indexes and small numbers.
      vpos = pos + 1;
      return (first >>> 1) ^ -(first & 1);
    }
  }
  let n = 0;
  let mul = 1;
  for (let i = 0; i < maxBytes; i++) {
    if (pos >= buf.length) throw new BodyError('truncated varint');
    const b = buf[pos++];
    n += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      if (i === maxBytes - 1 && b > (maxBytes === 5 ? 0x0f : 0x01)) {
        throw new BodyError('varint out of range');
      }
      vpos = pos;
      return n % 2 === 1 ? -(n + 1) / 2 : n / 2;
    }
    mul *= 128;
  }
  throw new BodyError('varint too long');
}

const readInt = (buf: Uint8Array, pos: number): number => readVarint(buf, pos, 5);
const readLong = (buf: Uint8Array, pos: number): number => readVarint(buf, pos, 10);

function skipLength(buf: Uint8Array, pos: number): number {
  const first = buf[pos];
  if (first < 0x80 && (first & 1) === 0 && pos < buf.length) {
    // One-byte non-negative length (under 64 bytes).
    const end = pos + 1 + (first >>> 1);
    if (end > buf.length) throw new BodyError('length past the end of the message');
    return end;
  }
  const len = readLong(buf, pos);
  if (len < 0) throw new BodyError('negative length');
  const end = vpos + len;
  if (end > buf.length) throw new BodyError('length past the end of the message');
  return end;
}

interface Compiled {
  walk: BodyWalker;
  /** Least number of bytes one value occupies. */
  minSize: number;
}

type AnyType = Type & {
  typeName: string;
  name?: string;
  fields?: { type: Type }[];
  itemsType?: Type;
  valuesType?: Type;
  types?: Type[];
  symbols?: string[];
  size?: number;
  underlyingType?: Type;
};

function blockWalker(what: string, item: Compiled): Compiled {
  const itemWalk = item.walk;
  const zeroSize = item.minSize === 0;
  return {
    minSize: 1,
    walk(buf, pos) {
      let total = 0;
      for (;;) {
        let count = readLong(buf, pos);
        pos = vpos;
        if (count === 0) return pos;
        if (count < 0) {
          count = -count;
          const size = readLong(buf, pos);
          pos = vpos;
          if (size < 0 || pos + size > buf.length) throw new BodyError(`bad ${what} block size`);
        }
        total += count;
        if (zeroSize ? total > MAX_ZERO_SIZE_ITEMS : count > buf.length - pos) {
          throw new BodyError(`${what} block count past the end of the message`);
        }
        for (let i = 0; i < count; i++) pos = itemWalk(buf, pos);
      }
    },
  };
}

/**
 * One walker calling each field walker in turn from its own call site (generated code, like
 * avsc's record readers): each site sees a single target, which V8 can inline.
 */
function unrolled(walks: BodyWalker[]): BodyWalker {
  const args = walks.map((_, i) => `w${i}`);
  const body = `return function walkRecord(buf, pos) {\n${args.map((a) => `  pos = ${a}(buf, pos);\n`).join('')}  return pos;\n};`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function(...args, body)(...walks) as BodyWalker;
}

function compile(type: AnyType, named: Map<string, Compiled>): Compiled {
  const typeName = type.typeName;
  switch (typeName) {
    case 'null':
      return { minSize: 0, walk: (_buf, pos) => pos };
    case 'boolean':
      return {
        minSize: 1,
        walk(buf, pos) {
          if (pos >= buf.length) throw new BodyError('truncated boolean');
          if (buf[pos] > 1) throw new BodyError('invalid boolean byte');
          return pos + 1;
        },
      };
    case 'int':
      return {
        minSize: 1,
        walk(buf, pos) {
          if (buf[pos] < 0x80 && pos < buf.length) return pos + 1;
          readInt(buf, pos);
          return vpos;
        },
      };
    case 'long':
      return {
        minSize: 1,
        walk(buf, pos) {
          if (buf[pos] < 0x80 && pos < buf.length) return pos + 1;
          const n = readLong(buf, pos);
          if (n > MAX_LONG || n < -MAX_LONG) throw new BodyError('long out of the supported range');
          return vpos;
        },
      };
    case 'float':
    case 'double': {
      const size = typeName === 'float' ? 4 : 8;
      return {
        minSize: size,
        walk(buf, pos) {
          if (pos + size > buf.length) throw new BodyError(`truncated ${typeName}`);
          return pos + size;
        },
      };
    }
    case 'string':
    case 'bytes':
      return { minSize: 1, walk: skipLength };
    case 'fixed': {
      const size = type.size ?? 0;
      return {
        minSize: size,
        walk(buf, pos) {
          if (pos + size > buf.length) throw new BodyError('truncated fixed');
          return pos + size;
        },
      };
    }
    case 'enum': {
      const n = type.symbols?.length ?? 0;
      return {
        minSize: 1,
        walk(buf, pos) {
          const index = readInt(buf, pos);
          if (index < 0 || index >= n) throw new BodyError('enum index out of range');
          return vpos;
        },
      };
    }
    case 'array':
      return blockWalker('array', compile(type.itemsType as AnyType, named));
    case 'map': {
      const value = compile(type.valuesType as AnyType, named);
      const valueWalk = value.walk;
      return blockWalker('map', {
        minSize: 1,
        walk: (buf, pos) => valueWalk(buf, skipLength(buf, pos)),
      });
    }
    case 'record':
    case 'error': {
      const key = type.name ?? '';
      const existing = named.get(key);
      if (existing) return existing;
      // Registered before its fields are compiled, so that a recursive reference resolves to
      // it (through `impl`, set below; such a reference counts as zero-size).
      let impl: BodyWalker = (_buf, pos) => pos;
      named.set(key, { minSize: 0, walk: (buf, pos) => impl(buf, pos) });
      const fields = (type.fields ?? []).map((f) => compile(f.type as AnyType, named));
      const walks = fields.map((f) => f.walk);
      impl = unrolled(walks);
      const self: Compiled = { minSize: fields.reduce((sum, f) => sum + f.minSize, 0), walk: impl };
      named.set(key, self);
      return self;
    }
    default:
      if (typeName.startsWith('union:')) {
        const branches = (type.types ?? []).map((t) => compile(t as AnyType, named));
        const walks = branches.map((b) => b.walk);
        return {
          minSize: 1,
          walk(buf, pos) {
            const index = readLong(buf, pos);
            if (index < 0 || index >= walks.length) throw new BodyError('union index out of range');
            return walks[index](buf, vpos);
          },
        };
      }
      if (typeName.startsWith('logical:') && type.underlyingType) {
        return compile(type.underlyingType as AnyType, named);
      }
      throw new Error(`cannot check values of Avro type ${typeName}`);
  }
}

/** Builds the body walker of a writer schema (once per schema; the walker is reused). */
export function compileBodyWalker(type: Type): BodyWalker {
  return compile(type as AnyType, new Map()).walk;
}
