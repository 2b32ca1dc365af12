// The addon itself: it is built (else this fails with the build hint), its circuits use the
// catalog's ids, its work runs off the event loop, and the circuit sets differ per version.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { ADDON_PATH, BUILD_HINT, NativeAddonMissingError, loadNativeProver } from '../../native-prover/binding';
import { catalogPairs } from '../../payload/native';
import { cutIntoInstances, encodeInstanceWitness } from '../../lib/batch-execution';
import { SLOW_MS, V24, addon, at, smallBatch, smallPayload } from './support';

describe('native prover: the addon', function () {
  this.timeout(SLOW_MS);

  it('is built (run native-prover/build.sh otherwise)', () => {
    if (!existsSync(ADDON_PATH)) {
      expect.fail(`the native prover addon is not built (${ADDON_PATH} is missing): ${BUILD_HINT}`);
    }
    expect(() => addon()).to.not.throw();
  });

  it('says how to build it when it is missing', () => {
    const err = new NativeAddonMissingError(`x: ${BUILD_HINT}`);
    expect(err.message).to.match(/native-prover\/build\.sh/);
    expect(loadNativeProver).to.be.a('function');
  });

  it('uses the catalog basic and leaf ids', () => {
    expect(addon().catalog()).to.deep.equal(catalogPairs());
  });

  it('lists a key per level; leaf and node share one shape', async () => {
    const payload = smallPayload();
    const keys = await payload.prepare(V24);
    expect(keys.map((k) => k.level)).to.include.members(['leaf', 'node', 'tip', 'scheduler', 'compression', 'basic/1', 'basic/255']);
    expect(new Set(keys.map((k) => k.digest)).size).to.equal(keys.length);
    expect(payload.verificationKeysHash(V24)).to.match(/^[0-9a-f]{64}$/);
    const leaf = keys.find((k) => k.level === 'leaf')!;
    const node = keys.find((k) => k.level === 'node')!;
    expect(leaf.degreeBits).to.equal(node.degreeBits); // the node verifies either with one gadget
  });

  it('proves off the event loop: timers keep firing while a proof is made', async () => {
    const payload = smallPayload();
    await payload.prepare(V24);
    const job = at(7, { round: 0, circuitId: 1, depth: 0, seq: 2 });
    const w = await payload.generateWitness(job, { kind: 'basic', witness: encodeInstanceWitness(cutIntoInstances(smallBatch()).get(1)![2]) });
    let ticks = 0;
    let last = Date.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = Date.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const started = Date.now();
    try {
      const vector = await payload.generateWitnessVector(job, w);
      await payload.prove(job, vector);
    } finally {
      clearInterval(timer);
    }
    const elapsed = Date.now() - started;
    // A proof made on the loop's thread would show as one gap as long as the whole proof.
    expect(ticks).to.be.greaterThan(1);
    expect(maxGap).to.be.lessThan(Math.max(250, elapsed * 0.75));
  });
});
