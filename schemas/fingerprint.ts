// CRC-64-AVRO (Rabin) fingerprint of a schema's Parsing Canonical Form, as defined in the Avro
// specification ("Schema Fingerprints"). avsc offers only hash-based fingerprints (md5, sha256),
// so the 64-bit one is computed here.
import type { Type } from 'avsc';

/** The empty-input fingerprint, a.k.a. the Rabin polynomial seed, from the specification. */
const EMPTY = 0xc15d213aa4d7a795n;
const MASK64 = 0xffffffffffffffffn;

/**
 * The lookup table, split in two 32-bit halves so the per-byte loop runs on plain numbers
 * (BigInt arithmetic is an order of magnitude slower; speed matters little here, but the table
 * is cheap to build either way).
 */
const TABLE_HI = new Uint32Array(256);
const TABLE_LO = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let fp = BigInt(i);
  for (let j = 0; j < 8; j++) {
    fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n));
  }
  fp &= MASK64;
  TABLE_HI[i] = Number(fp >> 32n);
  TABLE_LO[i] = Number(fp & 0xffffffffn);
}

/** CRC-64-AVRO of raw bytes, as an unsigned 64-bit bigint. */
export function rabinFingerprint64(data: Uint8Array): bigint {
  let hi = Number(EMPTY >> 32n);
  let lo = Number(EMPTY & 0xffffffffn);
  for (let k = 0; k < data.length; k++) {
    const idx = (lo ^ data[k]) & 0xff;
    // fp >>> 8 over the 64-bit pair (hi, lo)
    const shiftedLo = ((lo >>> 8) | ((hi & 0xff) << 24)) >>> 0;
    const shiftedHi = hi >>> 8;
    lo = (shiftedLo ^ TABLE_LO[idx]) >>> 0;
    hi = (shiftedHi ^ TABLE_HI[idx]) >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * The Parsing Canonical Form of a type: full names, only the attributes that matter for
 * reading (type, name, fields, symbols, items, values, size), in that order, no whitespace,
 * named types written in full at their first use and by name after. avsc's `schema()` without
 * options produces exactly that; the interop test checks it against Apache Avro's Java
 * `SchemaNormalization.toParsingForm`.
 */
export function parsingCanonicalForm(type: Type): string {
  return JSON.stringify(type.schema());
}

/** CRC-64-AVRO fingerprint of a type's Parsing Canonical Form. */
export function schemaFingerprint(type: Type): bigint {
  return rabinFingerprint64(Buffer.from(parsingCanonicalForm(type), 'utf8'));
}

/** The fingerprint as the 8 little-endian bytes that single-object encoding writes. */
export function fingerprintBytes(fp: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(fp);
  return out;
}

/** The fingerprint as 16 lower-case hex digits (most significant first), for logs and errors. */
export function fingerprintHex(fp: bigint): string {
  return fp.toString(16).padStart(16, '0');
}
