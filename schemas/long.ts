// Avro `long` as a JS number, exact in both directions.
//
// avsc reads and writes longs through floating-point arithmetic on the zig-zag value, which is
// exact only while that value stays below 2^53: a negative long below -2^52 comes out with the
// wrong sign. The codec therefore limits longs to |n| <= 2^52 - 1 (about 4.5e15: ample for batch
// numbers, offsets and millisecond timestamps), rejecting anything larger when encoding
// (InvalidMessageError) and when decoding (MalformedMessageError) instead of corrupting it.
import * as avro from 'avsc';
import type { Schema, Type } from 'avsc';

/** Largest long magnitude the codec carries: 2^52 - 1. */
export const MAX_LONG = 2 ** 52 - 1;

function inRange(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= -MAX_LONG && n <= MAX_LONG;
}

type Tap = { readLong(): number; writeLong(n: number): void };
type CheckHook = (val: unknown, type: Type) => void;

const BaseLong = avro.types.LongType as unknown as new () => object;

class ExactLongType extends BaseLong {
  _check(val: unknown, _flags: number, hook?: CheckHook): boolean {
    const ok = inRange(val);
    if (!ok && hook) hook(val, this as unknown as Type);
    return ok;
  }

  _read(tap: Tap): number {
    const n = tap.readLong();
    // A zig-zag value of 2^53 or more reads as a magnitude of 2^52 or more: out of range.
    if (!inRange(n)) throw new Error(`long out of the supported range (|n| <= 2^52 - 1)`);
    return n;
  }

  _write(tap: Tap, val: unknown): void {
    if (!inRange(val)) throw new Error(`invalid "long": ${String(val)} (|n| <= 2^52 - 1)`);
    tap.writeLong(val);
  }
}

/** The single instance used for every `long` in every parsed schema. */
export const EXACT_LONG = new ExactLongType() as unknown as Type;

/** avsc typeHook that substitutes EXACT_LONG for `"long"` and `{"type": "long", ...}`. */
export function longTypeHook(schema: Schema): Type | undefined {
  if (schema === 'long') return EXACT_LONG;
  if (typeof schema === 'object' && schema !== null && !Array.isArray(schema) && (schema as { type?: unknown }).type === 'long') {
    return EXACT_LONG;
  }
  return undefined;
}
