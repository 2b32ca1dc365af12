// Decoding arbitrary bytes must fail only with the codec's typed errors, and quickly.
import { expect } from 'chai';
import { CodecError, MalformedMessageError, MessageTypeMismatchError, UnknownSchemaError, getCodec } from '../../schemas';
import { SAMPLES } from './support/samples';

/** Small deterministic PRNG (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const codec = getCodec();
const valid = SAMPLES.map((s) => ({ name: s.name, buf: codec.encode(s.name, s.value as never) }));
const headers = codec.registry.entries().map((e) => e.header);

let outcomes = { ok: 0, malformed: 0, unknown: 0, mismatch: 0 };

/** Decodes with every entry point; anything but a CodecError fails the test. */
function probe(buf: Buffer, label: string): void {
  for (const attempt of [() => codec.decodeAny(buf), () => codec.decode('ProverJob', buf), () => codec.decode('DeadLetter', buf)]) {
    try {
      attempt();
      outcomes.ok++;
    } catch (err) {
      if (!(err instanceof CodecError)) {
        throw new Error(`${label}: ${buf.toString('hex')} threw ${String(err)}`);
      }
      if (err instanceof MalformedMessageError) outcomes.malformed++;
      else if (err instanceof UnknownSchemaError) outcomes.unknown++;
      else if (err instanceof MessageTypeMismatchError) outcomes.mismatch++;
      else throw new Error(`${label}: unexpected ${err.name}`);
    }
  }
}

function randomBytes(next: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
  return b;
}

describe('schemas/codec on arbitrary bytes', () => {
  beforeEach(() => {
    outcomes = { ok: 0, malformed: 0, unknown: 0, mismatch: 0 };
  });

  it('random buffers', () => {
    const next = rng(1);
    for (let i = 0; i < 2000; i++) probe(randomBytes(next, Math.floor(next() * 64)), `random #${i}`);
    expect(outcomes.ok).to.equal(0);
  });

  it('a registered header followed by random bytes', () => {
    const next = rng(2);
    for (let i = 0; i < 2000; i++) {
      const header = headers[Math.floor(next() * headers.length)];
      probe(Buffer.concat([header, randomBytes(next, Math.floor(next() * 200))]), `header+random #${i}`);
    }
    expect(outcomes.malformed).to.be.greaterThan(0);
  });

  it('every truncation of every valid message', () => {
    for (const { name, buf } of valid) {
      for (let len = 0; len < buf.length; len++) {
        const cut = Buffer.from(buf.subarray(0, len));
        try {
          codec.decode(name, cut);
          expect.fail(`${name} truncated to ${len} of ${buf.length} bytes decoded`);
        } catch (err) {
          expect(err, `${name} at ${len}`).to.be.instanceOf(MalformedMessageError);
        }
      }
    }
  });

  it('every valid message with trailing bytes', () => {
    for (const { name, buf } of valid) {
      for (const tail of [[0], [1, 2, 3], [0xff]]) {
        expect(() => codec.decode(name, Buffer.concat([buf, Buffer.from(tail)]))).to.throw(MalformedMessageError);
      }
    }
  });

  it('random byte flips, insertions and deletions in valid messages', () => {
    const next = rng(3);
    for (let i = 0; i < 6000; i++) {
      const { buf } = valid[Math.floor(next() * valid.length)];
      let b = Buffer.from(buf);
      const edits = 1 + Math.floor(next() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(next() * (b.length + 1));
        const op = next();
        if (op < 0.6 && at < b.length) b[at] = Math.floor(next() * 256);
        else if (op < 0.8) b = Buffer.concat([b.subarray(0, at), randomBytes(next, 1 + Math.floor(next() * 4)), b.subarray(at)]);
        else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + Math.floor(next() * 4))]);
      }
      probe(b, `mutation #${i}`);
    }
    // Flips inside string bytes keep messages valid; most edits break them.
    expect(outcomes.ok).to.be.greaterThan(0);
    expect(outcomes.malformed).to.be.greaterThan(outcomes.ok);
  });

  it('hostile counts and lengths fail fast', () => {
    const header = codec.registry.message('ProverJob')!.current.header;
    const start = Date.now();
    // protocol_version, batch_number, job_id "", run_id, round, circuit, depth, seq, level_size, then
    // input_keys with a huge block count / a negative count with a huge size / a huge string length.
    const prefix = Buffer.from([2, 2, 2, 0, 0, 0, 0, 0, 0, 2]);
    const hostile = [
      Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), // count 2^62-ish
      Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f]), // count 2^31-1
      Buffer.from([0xfd, 0xff, 0xff, 0xff, 0x0f, 0xfe, 0xff, 0xff, 0xff, 0x0f]), // negative count, huge size
      Buffer.from([0x02, 0xfe, 0xff, 0xff, 0xff, 0x0f]), // one string of length 2^31-1
      Buffer.from([0x02, 0x01]), // one string of length -1
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // varint too long
    ];
    for (const tail of hostile) {
      expect(() => codec.decode('ProverJob', Buffer.concat([header, prefix, tail]))).to.throw(MalformedMessageError);
    }
    expect(Date.now() - start).to.be.lessThan(1000);
  });

  it('out-of-range ints, union indexes and booleans are malformed', () => {
    const job = codec.registry.message('ProverJob')!.current.header;
    // protocol_version.minor = 2^31 (zig-zag 2^32): out of int range.
    expect(() => codec.decode('ProverJob', Buffer.concat([job, Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10])]))).to.throw(
      MalformedMessageError,
      /out of range/,
    );
    const dead = codec.registry.message('DeadLetter')!.current.header;
    // protocol_version union index 2 (of 2 branches).
    expect(() => codec.decode('DeadLetter', Buffer.concat([dead, Buffer.from([0x04])]))).to.throw(MalformedMessageError, /union/);
    expect(() => codec.decode('DeadLetter', Buffer.concat([dead, Buffer.from([0x01])]))).to.throw(MalformedMessageError, /union/);
  });
});
