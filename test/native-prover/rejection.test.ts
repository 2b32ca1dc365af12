// What the native proofs refuse: a tampered proof, a proof of another circuit type, of another
// batch or of another protocol version. Each is rejected outside a circuit (verify) and inside
// one: the next level's witness vector generation / proving fails when given such a child
// (the TypeScript checks of generateWitness are bypassed to reach the circuit).
import { expect } from 'chai';
import { cutIntoInstances, encodeInstanceWitness } from '../../lib/batch-execution';
import { NativePayload, encodeNativeWitness } from '../../payload/native';
import { JobCoordinates, ProofRejectedError } from '../../payload/payload';
import { FINAL_JOB } from '../core/prove-batch-with-digest';
import { SLOW_MS, V25, addon, at, provedSmallBatch, smallBatch, smallPayload, tamper } from './support';

const BASIC_1_0 = { round: 0, circuitId: 1, depth: 0, seq: 0 };
const BASIC_1_1 = { round: 0, circuitId: 1, depth: 0, seq: 1 };
const BASIC_3_0 = { round: 0, circuitId: 3, depth: 0, seq: 0 };
const LEAF_3_0 = { round: 1, circuitId: 3, depth: 0, seq: 0 };
const LEAF_5_0 = { round: 1, circuitId: 5, depth: 0, seq: 0 };
const NODE_3_0 = { round: 2, circuitId: 3, depth: 0, seq: 0 };
const NODE_5_0 = { round: 2, circuitId: 5, depth: 0, seq: 0 };
const TIP = { round: 3, circuitId: 255, depth: 0, seq: 0 };
const SCHEDULER = { round: 4, circuitId: 1, depth: 0, seq: 0 };

function key(c: { round: number; circuitId: number; depth: number; seq: number }): string {
  return `r${c.round}/c${c.circuitId}/d${c.depth}/s${c.seq}`;
}

/** Runs the circuit's witness generation and proving directly on `children` for `job`. */
async function proveInCircuit(job: JobCoordinates, children: Buffer[]): Promise<Buffer> {
  const payload = smallPayload();
  const w = encodeNativeWitness(job, { kind: 'aggregate', children });
  const params = payload.params(job.protocolVersion);
  return addon().prove(params, await addon().witnessVector(params, w));
}

async function expectRejected(p: Promise<unknown>, pattern?: RegExp): Promise<string> {
  try {
    await p;
  } catch (e) {
    const msg = (e as Error).message;
    if (pattern) expect(msg).to.match(pattern);
    return msg;
  }
  throw new Error('expected a rejection');
}

describe('native prover: rejections', function () {
  this.timeout(SLOW_MS);
  let proofs: Map<string, Buffer>;
  let otherBatch: Map<string, Buffer>;
  let v25Basic: Buffer;
  let payload: NativePayload;

  before(async () => {
    addon();
    payload = smallPayload();
    proofs = (await provedSmallBatch(7)).proofs;
    // The same instances proved for batch 8 (basic and leaf levels only).
    otherBatch = new Map();
    const b8 = smallBatch(8);
    const inst = cutIntoInstances(b8).get(1)!;
    for (const seq of [0, 1]) {
      const job = at(8, { ...BASIC_1_0, seq });
      const w = await payload.generateWitness(job, { kind: 'basic', witness: encodeInstanceWitness(inst[seq]) });
      otherBatch.set(key({ ...BASIC_1_0, seq }), await payload.prove(job, await payload.generateWitnessVector(job, w)));
    }
    // A basic proof of protocol version 25 (its own circuit set).
    const v25 = smallBatch(7, V25);
    const job25 = at(7, BASIC_1_0, V25);
    const w25 = await payload.generateWitness(job25, { kind: 'basic', witness: encodeInstanceWitness(cutIntoInstances(v25).get(1)![0]) });
    v25Basic = await payload.prove(job25, await payload.generateWitnessVector(job25, w25));
    expect(await payload.verify(job25, v25Basic)).to.deep.equal({ ok: true });
  });

  describe('verify (outside a circuit)', () => {
    for (const c of [BASIC_1_0, LEAF_3_0, NODE_3_0, TIP, SCHEDULER, FINAL_JOB]) {
      it(`rejects a tampered ${key(c)} proof`, async () => {
        const r = await payload.verify(at(7, c), tamper(proofs.get(key(c))!));
        expect(r.ok).to.equal(false);
      });
    }

    it('rejects a proof whose public inputs were changed (state words)', async () => {
      const p = Buffer.from(proofs.get(key(BASIC_1_0))!);
      p[12 + 8 * 17 + 7] ^= 1; // stateOut word 1
      const r = await payload.verify(at(7, BASIC_1_0), p);
      expect(r).to.include({ ok: false });
    });

    it('rejects a proof of another circuit type, even relabelled as the expected type', async () => {
      expect((await payload.verify(at(7, BASIC_3_0), proofs.get(key(BASIC_1_0))!)).ok).to.equal(false);
      // the circuits themselves: a type-1 basic proof checked against the type-3 basic circuit
      const reason = await addon().verify(payload.params({ minor: 24, patch: 0 }), 0, 3, relabel(proofs.get(key(BASIC_1_0))!, 3));
      expect(reason).to.be.a('string');
      // a leaf proof of type 3 is not one of type 5
      expect((await payload.verify(at(7, LEAF_5_0), proofs.get(key(LEAF_3_0))!)).ok).to.equal(false);
      expect((await payload.verify(at(7, NODE_5_0), proofs.get(key(NODE_3_0))!)).ok).to.equal(false);
    });

    it('rejects a proof of another batch', async () => {
      expect((await payload.verify(at(8, BASIC_1_0), proofs.get(key(BASIC_1_0))!)).ok).to.equal(false);
      expect((await payload.verify(at(7, BASIC_1_0), otherBatch.get(key(BASIC_1_0))!)).ok).to.equal(false);
      expect((await payload.verify(at(8, FINAL_JOB), proofs.get(key(FINAL_JOB))!)).ok).to.equal(false);
    });

    it('rejects a proof of another protocol version, also against the circuits alone', async () => {
      expect((await payload.verify(at(7, BASIC_1_0), v25Basic)).ok).to.equal(false);
      const reason = await addon().verify(payload.params({ minor: 24, patch: 0 }), 0, 1, v25Basic);
      expect(reason).to.match(/does not verify/);
      // and a v24 proof is not a v25 one
      expect((await payload.verify(at(7, BASIC_1_0, V25), proofs.get(key(BASIC_1_0))!)).ok).to.equal(false);
    });

    it('rejects garbage', async () => {
      expect((await payload.verify(at(7, BASIC_1_0), Buffer.from('not a proof'))).ok).to.equal(false);
      expect((await payload.verify(at(7, BASIC_1_0), proofs.get(key(BASIC_1_0))!.subarray(0, 500))).ok).to.equal(false);
    });
  });

  describe('in-circuit (the next level cannot be proved)', () => {
    const leaf1 = () => at(7, { round: 1, circuitId: 3, depth: 0, seq: 0 });
    const good = () => [proofs.get(key(BASIC_1_0))!, proofs.get(key(BASIC_1_1))!];

    it('a leaf over the real children proves (control)', async () => {
      const proof = await proveInCircuit(leaf1(), good());
      expect(await payload.verify(leaf1(), proof)).to.deep.equal({ ok: true });
    });

    it('a leaf refuses a tampered basic proof', async () => {
      await expectRejected(proveInCircuit(leaf1(), [tamper(good()[0]), good()[1]]));
    });

    it('a leaf refuses a basic proof of another type', async () => {
      await expectRejected(proveInCircuit(leaf1(), [relabel(proofs.get(key(BASIC_3_0))!, 1)]));
      // type 3's leaf (leaf id 5) does not take type 1's proofs
      await expectRejected(proveInCircuit(at(7, { round: 1, circuitId: 5, depth: 0, seq: 0 }), [good()[0]]));
    });

    it('a leaf refuses children of another batch', async () => {
      await expectRejected(proveInCircuit(leaf1(), [otherBatch.get(key(BASIC_1_0))!, otherBatch.get(key(BASIC_1_1))!]));
      await expectRejected(proveInCircuit(leaf1(), [good()[0], otherBatch.get(key(BASIC_1_1))!]));
    });

    it('a leaf refuses a child of another protocol version', async () => {
      await expectRejected(proveInCircuit(leaf1(), [v25Basic]));
    });

    it('a leaf refuses children out of order or not chaining', async () => {
      await expectRejected(proveInCircuit(leaf1(), [good()[1], good()[0]]));
      await expectRejected(proveInCircuit(leaf1(), [good()[0], good()[0]]));
      // sequence must start at seq * arity
      await expectRejected(proveInCircuit(at(7, { round: 1, circuitId: 3, depth: 0, seq: 1 }), good()));
    });

    it('a node refuses a tampered leaf proof and a leaf proof of another type', async () => {
      const node = at(7, NODE_3_0);
      await expectRejected(proveInCircuit(node, [tamper(proofs.get(key(LEAF_3_0))!)]));
      await expectRejected(proveInCircuit(node, [proofs.get('r1/c5/d0/s0')!]));
    });

    it('a node above depth 0 refuses a leaf proof and a node proof of the wrong depth', async () => {
      const top = at(7, { round: 2, circuitId: 3, depth: 1, seq: 0 });
      // control
      const ok = await proveInCircuit(top, [proofs.get('r2/c3/d0/s0')!, proofs.get('r2/c3/d0/s1')!]);
      expect(await payload.verify(top, ok)).to.deep.equal({ ok: true });
      await expectRejected(proveInCircuit(top, [proofs.get('r1/c3/d0/s0')!]));
      await expectRejected(proveInCircuit(at(7, { round: 2, circuitId: 3, depth: 2, seq: 0 }), [proofs.get('r2/c3/d0/s0')!]));
    });

    it('the tip, scheduler and compression refuse tampered children', async () => {
      await expectRejected(proveInCircuit(at(7, TIP), [tamper(proofs.get('r2/c3/d1/s0')!), proofs.get('r2/c5/d0/s0')!]));
      await expectRejected(proveInCircuit(at(7, SCHEDULER), [tamper(proofs.get(key(TIP))!)]));
      await expectRejected(proveInCircuit(at(7, FINAL_JOB), [tamper(proofs.get(key(SCHEDULER))!)]));
    });

    it('the tip refuses a final node proof of another batch or the same type twice', async () => {
      await expectRejected(proveInCircuit(at(8, TIP), [proofs.get('r2/c3/d1/s0')!, proofs.get('r2/c5/d0/s0')!]));
      await expectRejected(proveInCircuit(at(7, TIP), [proofs.get('r2/c3/d1/s0')!, proofs.get('r2/c3/d1/s0')!]));
    });

    it('generateWitness refuses the same children before any circuit runs', async () => {
      const leaf = leaf1();
      const child = (c: typeof BASIC_1_0, proof: Buffer) => ({ coordinates: at(7, c), proof });
      await expectRejected(payload.generateWitness(leaf, { kind: 'aggregate', children: [child(BASIC_1_0, tamper(good()[0]))] }), /does not verify/);
      await expectRejected(payload.generateWitness(leaf, { kind: 'aggregate', children: [child(BASIC_3_0, proofs.get(key(BASIC_3_0))!)] }), /cannot take/);
      await expectRejected(
        payload.generateWitness(leaf, { kind: 'aggregate', children: [{ coordinates: at(8, BASIC_1_0), proof: otherBatch.get(key(BASIC_1_0))! }] }),
        /batch/,
      );
      await expectRejected(
        payload.generateWitness(leaf, { kind: 'aggregate', children: [{ coordinates: at(7, BASIC_1_0, V25), proof: v25Basic }] }),
        /protocol version/,
      );
      const err = await payload.generateWitness(leaf, { kind: 'aggregate', children: [child(BASIC_1_0, proofs.get(key(BASIC_1_1))!)] }).catch((e) => e);
      expect(err).to.be.instanceOf(ProofRejectedError);
    });
  });
});

/** The same proof bytes with another circuit id in the header and the circuit-id public input. */
function relabel(proof: Buffer, circuitId: number): Buffer {
  const p = Buffer.from(proof);
  p.writeUInt32BE(circuitId, 6);
  p.writeBigUInt64BE(BigInt(circuitId), 12 + 8 * 4);
  return p;
}
