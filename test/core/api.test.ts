import { expect } from 'chai';
import { BatchInput, decodeBatchInput } from '../../lib/batch-execution';
import { DEFAULT_PROTOCOL_VERSION, ProtocolVersion } from '../../lib/protocol-version';
import { DigestPayload } from '../../payload/digest';
import { AggregationRound, SCHEDULER_CIRCUIT_ID } from '../../topics/catalog';
import { RunningCore } from '../../core/main';
import { batchKeys } from '../../core/store';
import { TempStore, TestClock, coreOn, get, post, tempStore } from './helpers';
import { jobKey, proveBatchWithDigest } from './prove-batch-with-digest';

const V = DEFAULT_PROTOCOL_VERSION;
const V2: ProtocolVersion = { minor: 25, patch: 0 };

async function takeBatch(core: RunningCore, proverId = 'p1'): Promise<{ n: number; input: BatchInput; body: any }> {
  const r = await post(core.url, '/proof_generation_data', { prover_id: proverId });
  expect(r.status, r.text).to.equal(200);
  const input = decodeBatchInput(Buffer.from(r.body.input_base64, 'base64'));
  return { n: r.body.batch_number, input, body: r.body };
}

const submit = (core: RunningCore, n: number | string, proof: Buffer, version: ProtocolVersion = V, extra: object = {}) =>
  post(core.url, `/submit_proof/${n}`, { protocol_version: version, proof_base64: proof.toString('base64'), ...extra });

describe('core API', () => {
  let store: TempStore;
  let core: RunningCore | null = null;

  beforeEach(() => {
    store = tempStore();
  });
  afterEach(async () => {
    await core?.close();
    core = null;
    store.remove();
  });

  describe('handing out batches', () => {
    it('hands each of 10 batches to exactly one of 50 concurrent callers, then 204', async () => {
      core = await coreOn(store, { batches: 10 });
      const c = core;
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) => post(c.url, '/proof_generation_data', { prover_id: `prover-${i}` })),
      );
      const ok = replies.filter((r) => r.status === 200);
      const none = replies.filter((r) => r.status === 204);
      expect(ok.length).to.equal(10);
      expect(none.length).to.equal(40);
      for (const r of none) expect(r.text).to.equal('');
      const numbers = ok.map((r) => r.body.batch_number as number).sort((a, b) => a - b);
      expect(numbers).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      for (const r of ok) {
        const rec = c.registry.get(r.body.batch_number)!;
        expect(rec.state).to.equal('picked');
        expect(rec.picks).to.equal(1);
        expect(r.body.batch_commitment).to.equal(rec.commitment);
        expect(r.body.protocol_version).to.deep.equal(V);
        expect(decodeBatchInput(Buffer.from(r.body.input_base64, 'base64')).batchNumber).to.equal(r.body.batch_number);
      }
      expect((await post(c.url, '/proof_generation_data', {})).status).to.equal(204);
    });

    it('hands out the lowest-numbered batch first and accepts an empty body', async () => {
      core = await coreOn(store, { batches: 3 });
      const r = await post(core.url, '/proof_generation_data', undefined, '');
      expect(r.status).to.equal(200);
      expect(r.body.batch_number).to.equal(1);
      expect(core.registry.get(1)!.lease!.picked_by).to.equal('anonymous');
      expect((await post(core.url, '/proof_generation_data', {})).body.batch_number).to.equal(2);
    });

    it('hands out a batch again once its lease has expired', async () => {
      const clock = new TestClock();
      core = await coreOn(store, { batches: 2, leaseMs: 1000, now: clock.now });
      expect((await takeBatch(core, 'a')).n).to.equal(1);
      clock.advance(999);
      expect((await takeBatch(core, 'b')).n).to.equal(2);
      expect((await post(core.url, '/proof_generation_data', { prover_id: 'c' })).status).to.equal(204);
      clock.advance(1);
      const again = await takeBatch(core, 'c');
      expect(again.n).to.equal(1);
      const rec = (await get(core.url, '/batches/1')).body;
      expect(rec.lease.picked_by).to.equal('c');
      expect(rec.picks).to.equal(2);
      expect(Date.parse(rec.lease.lease_until) - Date.parse(rec.lease.picked_at)).to.equal(1000);
      expect(rec.lease_expired).to.equal(false);
      clock.advance(2000);
      const list = (await get(core.url, '/batches')).body;
      expect(list.expired_leases).to.equal(2);
      // The lease only decides who is handed the batch; a correct proof counts from anyone.
      const late = await submit(core, 1, (await proveBatchWithDigest(again.input)).finalProof, V, { prover_id: 'a' });
      expect(late.body.status).to.equal('accepted');
      expect(core.registry.get(1)!.proven_by).to.equal('a');
    });

    it('only hands out batches of the versions the caller serves', async () => {
      core = await coreOn(store, { batches: 2 });
      const other = await post(core.url, '/proof_generation_data', { protocol_versions: [V2] });
      expect(other.status).to.equal(204);
      const mine = await post(core.url, '/proof_generation_data', { protocol_versions: [V2, V] });
      expect(mine.status).to.equal(200);
      expect(mine.body.batch_number).to.equal(1);
    });

    it('answers bad requests with 400 and an error JSON', async () => {
      core = await coreOn(store, { batches: 1 });
      const bad = [
        await post(core.url, '/proof_generation_data', undefined, '{not json'),
        await post(core.url, '/proof_generation_data', undefined, '[1,2]'),
        await post(core.url, '/proof_generation_data', { prover_id: 7 }),
        await post(core.url, '/proof_generation_data', { protocol_versions: [] }),
        await post(core.url, '/proof_generation_data', { protocol_versions: [{ minor: 'x', patch: 0 }] }),
        await post(core.url, '/proof_generation_data', { protocol_versions: { minor: 24, patch: 0 } }),
      ];
      for (const r of bad) {
        expect(r.status, r.text).to.equal(400);
        expect(r.body.error).to.be.a('string');
        expect(r.body.reason).to.be.a('string');
      }
      expect(core.registry.get(1)!.state).to.equal('sealed');
    });
  });

  describe('submitting proofs', () => {
    it('accepts a correct final proof; the batch becomes proven and is not handed out again', async () => {
      core = await coreOn(store, { batches: 2 });
      const { n, input } = await takeBatch(core);
      const proved = await proveBatchWithDigest(input);
      expect(proved.jobs).to.be.greaterThan(6);
      const r = await submit(core, n, proved.finalProof, V, { prover_id: 'p1' });
      expect(r.status, r.text).to.equal(200);
      expect(r.body.status).to.equal('accepted');
      const rec = (await get(core.url, `/batches/${n}`)).body;
      expect(rec.state).to.equal('proven');
      expect(rec.proven_by).to.equal('p1');
      expect(rec.proof_digest).to.equal(new DigestPayload().proofDigest(proved.finalProof));
      expect(rec.proven_at).to.be.a('string');
      expect((await core.store.get(batchKeys.proof(n))).equals(proved.finalProof)).to.equal(true);

      const again = await submit(core, n, proved.finalProof);
      expect(again.status).to.equal(200);
      expect(again.body.status).to.equal('already_proven');

      expect((await takeBatch(core)).n).to.equal(2);
      expect((await post(core.url, '/proof_generation_data', {})).status).to.equal(204);
      const list = (await get(core.url, '/batches')).body;
      expect(list.counts).to.deep.equal({ sealed: 0, picked: 1, proven: 1 });
      expect(list.oldest_unproven).to.equal(2);
    });

    it('accepts a correct proof with large arities too (one leaf and node per type)', async () => {
      core = await coreOn(store, { batches: 1 });
      const { n, input } = await takeBatch(core);
      const proved = await proveBatchWithDigest(input, { leafArity: 64, nodeArity: 64 });
      const r = await submit(core, n, proved.finalProof);
      expect(r.body.status, r.text).to.equal('accepted');
    });

    it('rejects a tampered proof, records the rejection and hands the batch out again', async () => {
      core = await coreOn(store, { batches: 2 });
      const { n, input } = await takeBatch(core);
      const { finalProof } = await proveBatchWithDigest(input);
      for (const offset of [40, finalProof.length - 1]) {
        const tampered = Buffer.from(finalProof);
        tampered[offset] ^= 0x01;
        const r = await submit(core, n, tampered, V, { prover_id: 'evil' });
        expect(r.status, r.text).to.equal(400);
        expect(r.body.status).to.equal('rejected');
        expect(r.body.reason).to.match(/does not verify/);
      }
      const rec = (await get(core.url, `/batches/${n}`)).body;
      expect(rec.state).to.equal('sealed');
      expect(rec.lease).to.equal(null);
      expect(rec.rejections).to.have.length(2);
      expect(rec.rejections[0].prover_id).to.equal('evil');
      expect(rec.rejections[0].reason).to.match(/does not verify/);
      expect(rec.rejections[0].at).to.be.a('string');
      expect((await takeBatch(core, 'p2')).n).to.equal(n);
      const ok = await submit(core, n, finalProof);
      expect(ok.body.status).to.equal('accepted');
      expect((await get(core.url, `/batches/${n}`)).body.rejections).to.have.length(2);
    });

    it('rejects a truncated or garbage proof', async () => {
      core = await coreOn(store, { batches: 1 });
      const { n, input } = await takeBatch(core);
      const { finalProof } = await proveBatchWithDigest(input);
      for (const bad of [finalProof.subarray(0, 50), Buffer.from('hello world')]) {
        const r = await submit(core, n, bad);
        expect(r.status, r.text).to.equal(400);
        expect(r.body.status).to.equal('rejected');
      }
    });

    it('rejects the proof of another batch', async () => {
      core = await coreOn(store, { batches: 2 });
      const first = await takeBatch(core);
      const second = await takeBatch(core);
      const proofOf2 = (await proveBatchWithDigest(second.input)).finalProof;
      const r = await submit(core, first.n, proofOf2);
      expect(r.status).to.equal(400);
      expect(r.body.status).to.equal('rejected');
      expect(r.body.reason).to.match(/batch 2/);
      expect(core.registry.get(1)!.rejections).to.have.length(1);
      expect(core.registry.get(1)!.state).to.equal('sealed');
    });

    it('rejects a proof whose commitment is not the batch commitment', async () => {
      core = await coreOn(store, { batches: 1 });
      const { n, input } = await takeBatch(core);
      // Same batch number and version, but other operations: verifies, commits to something else.
      const forged: BatchInput = { ...input, ops: input.ops.slice(1) };
      const r = await submit(core, n, (await proveBatchWithDigest(forged)).finalProof);
      expect(r.status).to.equal(400);
      expect(r.body.reason).to.match(/commits to/);
    });

    it('rejects a proof made for another protocol version', async () => {
      core = await coreOn(store, { batches: 1, acceptedVersions: [V, V2], version: V });
      const { n, input } = await takeBatch(core);
      const otherVersion = (await proveBatchWithDigest({ ...input, protocolVersion: V2 })).finalProof;
      // Claimed as the batch's version: it does not verify as a proof of that version.
      const asV = await submit(core, n, otherVersion, V);
      expect(asV.status).to.equal(400);
      expect(asV.body.reason).to.match(/does not verify/);
      // Claimed as its own version: the batch was sealed under another one.
      const asV2 = await submit(core, n, otherVersion, V2);
      expect(asV2.status).to.equal(400);
      expect(asV2.body.reason).to.match(/sealed under v24\.0/);
      // A version the core does not accept at all.
      const v3 = { minor: 99, patch: 1 };
      const asV3 = await submit(core, n, (await proveBatchWithDigest({ ...input, protocolVersion: v3 })).finalProof, v3);
      expect(asV3.status).to.equal(400);
      expect(asV3.body.reason).to.match(/not accepted by the core/);
      expect(core.registry.get(n)!.rejections).to.have.length(3);
    });

    it('rejects a proof of the wrong round (the scheduler proof)', async () => {
      core = await coreOn(store, { batches: 1 });
      const { n, input } = await takeBatch(core);
      const proved = await proveBatchWithDigest(input);
      const scheduler = proved.proofs.get(jobKey({ round: AggregationRound.Scheduler, circuitId: SCHEDULER_CIRCUIT_ID, depth: 0, seq: 0 }))!;
      expect(new DigestPayload().finalCommitment(scheduler).toString('hex')).to.equal(core.registry.get(n)!.commitment);
      const r = await submit(core, n, scheduler);
      expect(r.status).to.equal(400);
      expect(r.body.status).to.equal('rejected');
      expect(r.body.reason).to.match(/r4/);
    });

    it('answers a different proof for a proven batch with 409', async () => {
      core = await coreOn(store, { batches: 1 });
      const { n, input } = await takeBatch(core);
      const { finalProof } = await proveBatchWithDigest(input);
      expect((await submit(core, n, finalProof)).body.status).to.equal('accepted');
      const tampered = Buffer.from(finalProof);
      tampered[40] ^= 1;
      const r = await submit(core, n, tampered);
      expect(r.status).to.equal(409);
      expect(r.body.status).to.equal('already_proven');
      expect(core.registry.get(n)!.state).to.equal('proven');
    });

    it('accepts one of many concurrent submissions of the same proof and reports the rest as already proven', async () => {
      core = await coreOn(store, { batches: 1 });
      const c = core;
      const { n, input } = await takeBatch(c);
      const { finalProof } = await proveBatchWithDigest(input);
      const replies = await Promise.all(Array.from({ length: 10 }, () => submit(c, n, finalProof)));
      const statuses = replies.map((r) => r.body.status).sort();
      expect(statuses.filter((s) => s === 'accepted')).to.have.length(1);
      expect(statuses.filter((s) => s === 'already_proven')).to.have.length(9);
    });

    it('answers malformed submissions with 400 and unknown batches with 404, recording nothing', async () => {
      core = await coreOn(store, { batches: 1 });
      const { input } = await takeBatch(core);
      const proof = (await proveBatchWithDigest(input)).finalProof.toString('base64');
      const cases: Array<[string, string, number]> = [
        ['/submit_proof/1', '{"protocol_version":', 400],
        ['/submit_proof/1', '', 400],
        ['/submit_proof/1', '"just a string"', 400],
        ['/submit_proof/1', JSON.stringify({ proof_base64: proof }), 400],
        ['/submit_proof/1', JSON.stringify({ protocol_version: V }), 400],
        ['/submit_proof/1', JSON.stringify({ protocol_version: { minor: 24 }, proof_base64: proof }), 400],
        ['/submit_proof/1', JSON.stringify({ protocol_version: V, proof_base64: '***not base64***' }), 400],
        ['/submit_proof/1', JSON.stringify({ protocol_version: V, proof_base64: 12 }), 400],
        ['/submit_proof/abc', JSON.stringify({ protocol_version: V, proof_base64: proof }), 400],
        ['/submit_proof/-1', JSON.stringify({ protocol_version: V, proof_base64: proof }), 400],
        ['/submit_proof/77', JSON.stringify({ protocol_version: V, proof_base64: proof }), 404],
      ];
      for (const [path, raw, status] of cases) {
        const r = await post(core.url, path, undefined, raw);
        expect(r.status, `${path} ${raw.slice(0, 40)}: ${r.text}`).to.equal(status);
        expect(r.body.error, r.text).to.be.a('string');
        expect(r.body.reason, r.text).to.be.a('string');
      }
      expect(core.registry.get(1)!.rejections).to.have.length(0);
      expect(core.registry.get(1)!.state).to.equal('picked');
    });
  });

  it('refuses a body over the size limit with 413 and keeps serving', async () => {
    core = await coreOn(store, { batches: 1, maxBodyBytes: 1024 });
    const r = await post(core.url, '/submit_proof/1', { protocol_version: V, proof_base64: Buffer.alloc(4096).toString('base64') });
    expect(r.status).to.equal(413);
    expect(r.body.error).to.equal('payload_too_large');
    expect((await get(core.url, '/health')).status).to.equal(200);
    expect(core.registry.get(1)!.rejections).to.have.length(0);
  });

  describe('reading state', () => {
    it('serves records, the list, health, and the accepted versions with their keys hash', async () => {
      core = await coreOn(store, { batches: 3, acceptedVersions: [V, V2], version: V });
      await takeBatch(core);
      const rec = await get(core.url, '/batches/1');
      expect(rec.status).to.equal(200);
      expect(rec.body).to.include.keys('batch_number', 'protocol_version', 'state', 'lease', 'commitment', 'rejections', 'proven_at', 'proof_digest');
      expect(rec.body.state).to.equal('picked');
      expect(rec.body.lease.picked_by).to.equal('p1');

      const list = await get(core.url, '/batches');
      expect(list.body.counts).to.deep.equal({ sealed: 2, picked: 1, proven: 0 });
      expect(list.body.total).to.equal(3);
      expect(list.body.oldest_unproven).to.equal(1);
      expect(list.body.batches.map((b: any) => b.batch_number)).to.deep.equal([1, 2, 3]);
      expect((await get(core.url, '/batches?state=sealed')).body.batches).to.have.length(2);
      expect((await get(core.url, '/batches?state=bogus')).status).to.equal(400);

      const health = await get(core.url, '/health');
      expect(health.status).to.equal(200);
      expect(health.body.status).to.equal('ok');

      const versions = await get(core.url, '/protocol_versions');
      const payload = new DigestPayload();
      expect(versions.body.payload).to.equal('digest');
      expect(versions.body.protocol_versions).to.deep.equal([
        { ...V, verification_keys_hash: payload.verificationKeysHash(V) },
        { ...V2, verification_keys_hash: payload.verificationKeysHash(V2) },
      ]);
    });

    it('answers unknown routes, methods and batches with error JSON', async () => {
      core = await coreOn(store, { batches: 1 });
      const cases: Array<[string, string, number]> = [
        ['GET', '/batches/9', 404],
        ['GET', '/batches/x', 400],
        ['GET', '/nope', 404],
        ['GET', '/proof_generation_data', 405],
        ['POST', '/batches', 405],
        ['DELETE', '/batches/1', 405],
      ];
      for (const [method, path, status] of cases) {
        const res = await fetch(core.url + path, { method });
        expect(res.status, `${method} ${path}`).to.equal(status);
        const body = (await res.json()) as any;
        expect(body.error).to.be.a('string');
        expect(body.reason).to.be.a('string');
      }
    });
  });

  describe('restart', () => {
    it('keeps state across a restart of the core on the same store', async () => {
      const clock = new TestClock();
      core = await coreOn(store, { batches: 4, leaseMs: 10_000, now: clock.now });
      const b1 = await takeBatch(core, 'a');
      const b2 = await takeBatch(core, 'b');
      await takeBatch(core, 'c');
      const { finalProof } = await proveBatchWithDigest(b1.input);
      expect((await submit(core, b1.n, finalProof)).body.status).to.equal('accepted');
      const tampered = Buffer.from((await proveBatchWithDigest(b2.input)).finalProof);
      tampered[50] ^= 4;
      expect((await submit(core, b2.n, tampered)).status).to.equal(400);
      const before = core.registry.list();
      await core.close();

      core = await coreOn(store, { batches: 4, leaseMs: 10_000, now: clock.now });
      expect(core.registry.list()).to.deep.equal(before);
      const states = core.registry.list().map((r) => r.state);
      expect(states).to.deep.equal(['proven', 'sealed', 'picked', 'sealed']);
      expect(core.registry.get(2)!.rejections).to.have.length(1);
      // Batch 3's lease still holds; batch 2 (rejected) and then 4 are next.
      expect((await takeBatch(core, 'd')).n).to.equal(2);
      expect((await takeBatch(core, 'e')).n).to.equal(4);
      expect((await post(core.url, '/proof_generation_data', {})).status).to.equal(204);
      clock.advance(10_000);
      expect((await takeBatch(core, 'f')).n).to.equal(2);
      expect((await submit(core, b1.n, finalProof)).body.status).to.equal('already_proven');
    });
  });
});
