import { expect } from 'chai';
import * as avro from 'avsc';
import {
  Codec,
  CodecError,
  InvalidMessageError,
  MalformedMessageError,
  MessageTypeMismatchError,
  MESSAGE_NAMES,
  ProverJob,
  UnknownMessageTypeError,
  UnknownSchemaError,
  decode,
  decodeAny,
  encode,
  getCodec,
} from '../../schemas';
import { fingerprintBytes, rabinFingerprint64, schemaFingerprint } from '../../schemas/fingerprint';
import { MAX_LONG } from '../../schemas/long';
import { SAMPLES } from './support/samples';

function proverJob(): ProverJob {
  const s = SAMPLES.find((x) => x.name === 'ProverJob');
  return { ...(s!.value as ProverJob) };
}

/** Expects `fn` to throw an error of class `cls`; returns it. */
function thrown<E extends Error>(fn: () => unknown, cls: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(cls);
    return err as E;
  }
  throw new Error(`expected ${cls.name}`);
}

describe('schemas/fingerprint', () => {
  it('matches the CRC-64-AVRO values of the specification', () => {
    // Empty input yields the seed; "int" is one of Avro's published test vectors.
    expect(rabinFingerprint64(Buffer.alloc(0))).to.equal(0xc15d213aa4d7a795n);
    expect(rabinFingerprint64(Buffer.from('"int"'))).to.equal(8247732601305521295n);
  });

  it('is computed on the parsing canonical form, ignoring docs and defaults', () => {
    const a = avro.Type.forSchema({ type: 'record', name: 'x.R', fields: [{ name: 'f', type: 'int' }] });
    const b = avro.Type.forSchema({
      type: 'record',
      name: 'R',
      namespace: 'x',
      doc: 'documented',
      fields: [{ name: 'f', type: 'int', default: 3, doc: 'field' }],
    });
    expect(schemaFingerprint(a)).to.equal(schemaFingerprint(b));
  });
});

describe('schemas/codec', () => {
  const codec = getCodec();

  it('round-trips every sample of every message', () => {
    for (const s of SAMPLES) {
      const buf = encode(s.name, s.value as never);
      expect(decode(s.name, buf), s.name).to.deep.equal(s.value);
      const any = decodeAny(buf);
      expect(any.name).to.equal(s.name);
      expect(any.value).to.deep.equal(s.value);
    }
  });

  it('covers every message name with a schema and a sample', () => {
    expect([...codec.registry.names()].sort()).to.deep.equal([...MESSAGE_NAMES].sort());
    for (const name of MESSAGE_NAMES) expect(SAMPLES.some((s) => s.name === name), name).to.equal(true);
  });

  it('writes the single-object header: C3 01 and the little-endian fingerprint', () => {
    const buf = encode('ProverJob', proverJob());
    const entry = codec.registry.message('ProverJob')!.current;
    expect(buf.subarray(0, 2).toString('hex')).to.equal('c301');
    expect(buf.subarray(2, 10)).to.deep.equal(fingerprintBytes(schemaFingerprint(entry.type)));
    expect(buf.readBigUInt64LE(2)).to.equal(entry.fingerprint);
    // The body is plain Avro binary of the current schema.
    expect(entry.type.fromBuffer(buf.subarray(10))).to.deep.equal(proverJob());
    expect(codec.header(buf).entry?.name).to.equal('ProverJob');
    expect(codec.header(buf).fingerprintHex).to.equal(entry.fingerprintHex);
  });

  it('is deterministic: equal values give equal bytes', () => {
    expect(encode('ProverJob', proverJob()).equals(encode('ProverJob', proverJob()))).to.equal(true);
  });

  it('decodes a Uint8Array that is not a Buffer, and a Buffer slice of a larger buffer', () => {
    const buf = encode('ProverJob', proverJob());
    const u8 = new Uint8Array(buf.length);
    u8.set(buf);
    expect(decode('ProverJob', u8)).to.deep.equal(proverJob());
    const big = Buffer.concat([Buffer.from([1, 2, 3]), buf, Buffer.from([4, 5])]);
    expect(decode('ProverJob', big.subarray(3, 3 + buf.length))).to.deep.equal(proverJob());
  });

  it('encodes values larger than its scratch buffer', () => {
    const proof = Buffer.alloc(5 * 1024 * 1024, 7);
    const value = { ...(SAMPLES.find((s) => s.name === 'FinalProof')!.value as object), proof };
    const buf = encode('FinalProof', value as never);
    expect(decode('FinalProof', buf).proof.equals(proof)).to.equal(true);
    // and later small values still encode correctly
    expect(decode('ProverJob', encode('ProverJob', proverJob()))).to.deep.equal(proverJob());
  });

  it('rejects values that do not fit the schema with InvalidMessageError', () => {
    const bad: [string, unknown][] = [
      ['level_size', 1.5],
      ['level_size', 2 ** 31],
      ['batch_number', 2 ** 60],
      ['batch_number', '42'],
      ['zone', 5],
      ['input_keys', ['a', 1]],
      ['protocol_version', null],
      ['job_id', undefined],
    ];
    for (const [field, v] of bad) {
      const err = thrown(() => encode('ProverJob', { ...proverJob(), [field]: v } as never), InvalidMessageError);
      expect(err.message, field).to.contain(`ProverJob.${field}`);
    }
    thrown(() => encode('ProverJob', null as never), InvalidMessageError);
  });

  it('fills fields that have defaults when the value omits them', () => {
    const { zone, not_before_ms, attempt, ...rest } = proverJob();
    void zone;
    void not_before_ms;
    void attempt;
    const decoded = decode('ProverJob', encode('ProverJob', rest as never));
    expect(decoded.zone).to.equal(null);
    expect(decoded.not_before_ms).to.equal(0);
    expect(decoded.attempt).to.equal(0);
  });

  it('throws UnknownMessageTypeError for a name without a schema', () => {
    thrown(() => encode('Nope' as never, {} as never), UnknownMessageTypeError);
    const buf = encode('ProverJob', proverJob());
    thrown(() => decode('Nope' as never, buf), UnknownMessageTypeError);
  });

  it('throws MessageTypeMismatchError when the message is of another type', () => {
    const buf = encode('ProverJob', proverJob());
    const err = thrown(() => decode('ProofLanded', buf), MessageTypeMismatchError);
    expect(err.expected).to.equal('ProofLanded');
    expect(err.actual).to.equal('ProverJob');
  });

  it('throws UnknownSchemaError for a well-formed header with an unregistered fingerprint', () => {
    const buf = Buffer.from(encode('ProverJob', proverJob()));
    buf.writeBigUInt64LE(0x0123456789abcdefn, 2);
    const err = thrown(() => decodeAny(buf), UnknownSchemaError);
    expect(err.fingerprint).to.equal('0123456789abcdef');
    expect(err.kind).to.equal('unknown-schema');
  });

  it('throws MalformedMessageError for short buffers, bad markers, truncation and trailing bytes', () => {
    const buf = encode('ProverJob', proverJob());
    for (const bad of [
      Buffer.alloc(0),
      Buffer.from([0xc3]),
      buf.subarray(0, 9),
      Buffer.concat([Buffer.from([0xc3, 0x02]), buf.subarray(2)]),
      Buffer.concat([Buffer.from([0x00, 0x01]), buf.subarray(2)]),
      buf.subarray(0, 10),
      buf.subarray(0, buf.length - 1),
      Buffer.concat([buf, Buffer.from([0])]),
    ]) {
      const err = thrown(() => decode('ProverJob', bad), MalformedMessageError);
      expect(err.kind).to.equal('malformed');
    }
    expect(thrown(() => decode('ProverJob', Buffer.concat([buf, Buffer.from([0])])), MalformedMessageError).message).to.contain(
      'trailing',
    );
  });

  it('carries longs exactly up to 2^52 - 1 in magnitude, and refuses larger ones', () => {
    const base = SAMPLES[0].value as object;
    for (const n of [MAX_LONG, -MAX_LONG, 2 ** 40 + 1, -(2 ** 40 + 1), -1, 0]) {
      expect(decode('BatchJob', encode('BatchJob', { ...base, batch_number: n } as never)).batch_number).to.equal(n);
    }
    for (const n of [MAX_LONG + 1, -MAX_LONG - 1, Number.MAX_SAFE_INTEGER, -(2 ** 53)]) {
      thrown(() => encode('BatchJob', { ...base, batch_number: n } as never), InvalidMessageError);
      const dead = SAMPLES.find((x) => x.name === 'DeadLetter')!.value as object;
      thrown(() => encode('DeadLetter', { ...dead, batch_number: n } as never), InvalidMessageError);
    }
  });

  it('rejects out-of-range longs from 64-bit writers as malformed', () => {
    const entry = getCodec().registry.message('BatchJob')!.current;
    const body = entry.type.toBuffer({ ...(SAMPLES[0].value as object), batch_number: 0 });
    // batch_number follows protocol_version (two one-byte ints here); 0 is the single byte 0x00.
    expect(body.subarray(0, 3)).to.deep.equal(Buffer.from([48, 2, 0]));
    const withLong = (varint: number[]) => Buffer.concat([entry.header, body.subarray(0, 2), Buffer.from(varint), body.subarray(3)]);
    // zig-zag varints: 2^62, -(2^52 + 1) (zig-zag 2^53 + 1), 2^52 (zig-zag 2^53)
    const p53 = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];
    for (const varint of [[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], [0x81, ...p53.slice(1)], p53]) {
      const err = thrown(() => decode('BatchJob', withLong(varint)), MalformedMessageError);
      expect(err.message).to.contain('range');
    }
    // 2^52 - 1 (zig-zag 2^53 - 2) is fine.
    const max = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];
    expect(decode('BatchJob', withLong(max)).batch_number).to.equal(MAX_LONG);
  });

  it('gives errors a stable kind and a common base class', () => {
    for (const err of [
      new MalformedMessageError('x'),
      new UnknownSchemaError('00'),
      new MessageTypeMismatchError('a', 'b'),
      new InvalidMessageError('x'),
      new UnknownMessageTypeError('x'),
    ]) {
      expect(err).to.be.instanceOf(CodecError);
      expect(err.name).to.equal(err.constructor.name);
      expect(err.kind).to.be.a('string');
    }
  });

  it('reports decode failures without throwing through tryDecodeAny', () => {
    const ok = getCodec().tryDecodeAny(encode('ProverJob', proverJob()));
    expect(ok.ok).to.equal(true);
    const bad = getCodec().tryDecodeAny(Buffer.from('hello'));
    expect(bad.ok).to.equal(false);
    if (!bad.ok) expect(bad.error).to.be.instanceOf(MalformedMessageError);
  });

  it('separate Codec instances over the same registry agree', () => {
    const other = new Codec(getCodec().registry);
    const buf = other.encode('ProverJob', proverJob());
    expect(buf.equals(encode('ProverJob', proverJob()))).to.equal(true);
  });
});
