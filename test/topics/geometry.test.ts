import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregationRound } from '../../topics/catalog';
import {
  AggregationPlan,
  DEFAULT_GEOMETRY,
  JobCoord,
  childrenOf,
  expectedChildren,
  levelSize,
  loadGeometry,
  nodeLevelsFor,
  parentOf,
  planAggregation,
  validateGeometry,
} from '../../topics/geometry';

const R = AggregationRound;
const job = (round: AggregationRound, circuitId: number, depth: number, seq: number): JobCoord => ({ round, circuitId, depth, seq });

/** Every job of a plan, for exhaustive checks. */
function allJobs(plan: AggregationPlan): JobCoord[] {
  const jobs: JobCoord[] = [];
  for (const c of plan.circuits) {
    for (let s = 0; s < c.basicJobs; s++) jobs.push(job(R.BasicCircuits, c.basicCircuitId, 0, s));
    for (let s = 0; s < c.leafJobs; s++) jobs.push(job(R.LeafAggregation, c.leafCircuitId, 0, s));
    c.nodeLevels.forEach((n, d) => {
      for (let s = 0; s < n; s++) jobs.push(job(R.NodeAggregation, c.leafCircuitId, d, s));
    });
  }
  jobs.push(job(R.RecursionTip, 255, 0, 0), job(R.Scheduler, 1, 0, 0), job(R.Compression, 1, 0, 0));
  return jobs;
}

// A mainnet batch: 17,061 basic + 544 leaf + 32 node + 1 tip + 1 scheduler jobs.
const MAINNET_LIKE: Record<number, number> = {
  1: 6176, 2: 129, 3: 993, 4: 385, 5: 1824, 6: 289, 7: 193, 8: 3008,
  9: 1504, 10: 1210, 11: 577, 12: 353, 13: 193, 14: 97, 15: 33, 255: 97,
};

describe('topics/geometry', () => {
  describe('config', () => {
    it('defaults to leaf arity 32, node arity 32, tip capacity 20', () => {
      expect(DEFAULT_GEOMETRY).to.deep.equal({ leafArity: 32, nodeArity: 32, tipCapacity: 20 });
      expect(loadGeometry({ env: {} })).to.deep.equal(DEFAULT_GEOMETRY);
    });

    it('validates', () => {
      expect(validateGeometry({ leafArity: 2 })).to.deep.equal({ leafArity: 2, nodeArity: 32, tipCapacity: 20 });
      expect(() => validateGeometry({ leafArity: 1 })).to.throw(/leafArity must be between 2/);
      expect(() => validateGeometry({ nodeArity: 0 })).to.throw(/nodeArity must be between 2/);
      expect(() => validateGeometry({ tipCapacity: 0 })).to.throw(/tipCapacity must be between 1/);
      expect(() => validateGeometry({ nodeArity: 2.5 })).to.throw(/nodeArity must be an integer/);
      expect(() => validateGeometry({ nodeArity: '32' })).to.throw(/must be an integer/);
      expect(() => validateGeometry({ leafArty: 32 })).to.throw(/unknown geometry key\(s\) leafArty/);
      expect(() => validateGeometry({ leafArity: 1e9 })).to.throw(/between 2 and 65536/);
      expect(() => validateGeometry([])).to.throw(/must be an object/);
    });

    it('loads a JSON file, then environment overrides', () => {
      const dir = mkdtempSync(join(tmpdir(), 'geometry-'));
      const file = join(dir, 'geometry.json');
      writeFileSync(file, JSON.stringify({ leafArity: 16, tipCapacity: 24 }));
      expect(loadGeometry({ file, env: {} })).to.deep.equal({ leafArity: 16, nodeArity: 32, tipCapacity: 24 });
      expect(loadGeometry({ env: { ZKP_GEOMETRY_FILE: file, ZKP_NODE_ARITY: '8', ZKP_LEAF_ARITY: '64' } })).to.deep.equal({
        leafArity: 64,
        nodeArity: 8,
        tipCapacity: 24,
      });
      expect(() => loadGeometry({ env: { ZKP_NODE_ARITY: '1' } })).to.throw(/nodeArity must be between 2/);
      expect(() => loadGeometry({ env: { ZKP_NODE_ARITY: 'x' } })).to.throw(/ZKP_NODE_ARITY must be a positive integer/);
      writeFileSync(file, JSON.stringify({ nodeArity: 1 }));
      expect(() => loadGeometry({ file, env: {} })).to.throw(/geometry\.json: geometry nodeArity/);
      expect(() => loadGeometry({ file: join(dir, 'missing.json'), env: {} })).to.throw(/cannot read geometry file/);
    });
  });

  describe('plan', () => {
    it('node levels: ceil by arity until one, at least one level', () => {
      expect(nodeLevelsFor(1, 32)).to.deep.equal([1]);
      expect(nodeLevelsFor(32, 32)).to.deep.equal([1]);
      expect(nodeLevelsFor(33, 32)).to.deep.equal([2, 1]);
      expect(nodeLevelsFor(1024, 32)).to.deep.equal([32, 1]);
      expect(nodeLevelsFor(1025, 32)).to.deep.equal([33, 2, 1]);
      expect(nodeLevelsFor(9, 2)).to.deep.equal([5, 3, 2, 1]);
    });

    it("the seed's worked example: 10,000 basic jobs over 10 types, arity 32", () => {
      const counts: Record<number, number> = {};
      for (const id of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) counts[id] = 1000;
      const plan = planAggregation(counts);
      // 1000 / 32 -> 32 leaf jobs per type; 32 leaf proofs -> one node job per type.
      expect(plan.jobsPerRound).to.deep.equal([10_000, 320, 10, 1, 1, 1]);
      expect(plan.totalJobs).to.equal(10_333);
      for (const c of plan.circuits) expect(c.nodeLevels).to.deep.equal([1]);
    });

    it("the seed's worked example with its own numbers: 10,000 -> 100 leaf jobs (leaf arity 100)", () => {
      const counts: Record<number, number> = {};
      for (const id of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) counts[id] = 1000;
      const plan = planAggregation(counts, { leafArity: 100, nodeArity: 32, tipCapacity: 16 });
      expect(plan.jobsPerRound).to.deep.equal([10_000, 100, 10, 1, 1, 1]);
    });

    it('10,000 basic jobs of one type need a second node level', () => {
      const plan = planAggregation({ 1: 10_000 });
      expect(plan.circuits).to.have.length(1);
      const [c] = plan.circuits;
      expect(c).to.deep.include({ basicCircuitId: 1, leafCircuitId: 3, basicJobs: 10_000, leafJobs: 313, nodeJobs: 11 });
      expect(c!.nodeLevels).to.deep.equal([10, 1]);
      expect(plan.jobsPerRound).to.deep.equal([10_000, 313, 11, 1, 1, 1]);
    });

    it('reproduces the mainnet batch: 17,061 basic, 544 leaf, 32 node, 1 tip, 1 scheduler', () => {
      const plan = planAggregation(MAINNET_LIKE);
      expect(plan.jobsPerRound).to.deep.equal([17_061, 544, 32, 1, 1, 1]);
      expect(plan.totalJobs).to.equal(17_061 + 544 + 32 + 3);
      expect(plan.circuits.find((c) => c.basicCircuitId === 1)!.nodeLevels).to.deep.equal([7, 1]);
    });

    it('orders types by leaf id (the tip input order) and skips zero counts', () => {
      const plan = planAggregation(new Map([[16, 5], [255, 3], [1, 1], [7, 0]]));
      expect(plan.circuits.map((c) => c.leafCircuitId)).to.deep.equal([3, 18, 19]);
      expect(plan.circuits.map((c) => c.basicCircuitId)).to.deep.equal([1, 255, 16]);
      expect(plan.jobsPerRound).to.deep.equal([9, 3, 3, 1, 1, 1]);
    });

    it('rejects bad input and too many types for the tip', () => {
      expect(() => planAggregation({})).to.throw(/no circuit type present/);
      expect(() => planAggregation({ 1: 0 })).to.throw(/no circuit type present/);
      expect(() => planAggregation({ 20: 5 })).to.throw(/unknown basic circuit id 20/);
      expect(() => planAggregation({ 1: -1 })).to.throw(/non-negative integer/);
      expect(() => planAggregation({ 1: 1.5 })).to.throw(/non-negative integer/);
      const all: Record<number, number> = {};
      for (const id of [...Array.from({ length: 19 }, (_, i) => i + 1), 255]) all[id] = 1;
      expect(planAggregation(all).circuits).to.have.length(20);
      expect(() => planAggregation(all, { ...DEFAULT_GEOMETRY, tipCapacity: 16 })).to.throw(
        /20 circuit types present but the recursion tip takes at most 16/,
      );
      expect(() => planAggregation({ 1: 1 }, { leafArity: 1, nodeArity: 32, tipCapacity: 20 })).to.throw(/leafArity/);
    });
  });

  describe('parent mapping', () => {
    const plan = planAggregation({ 1: 100, 5: 1025 * 32, 255: 1 });

    it('maps basic -> leaf -> node depth 0 with min(arity, remaining) children', () => {
      expect(parentOf(plan, job(R.BasicCircuits, 1, 0, 0))).to.deep.equal({
        parent: job(R.LeafAggregation, 3, 0, 0),
        childIndex: 0,
        expectedChildren: 32,
      });
      // 100 basic jobs: leaf jobs 0..3 take 32, 32, 32, 4
      expect(parentOf(plan, job(R.BasicCircuits, 1, 0, 97))).to.deep.equal({
        parent: job(R.LeafAggregation, 3, 0, 3),
        childIndex: 1,
        expectedChildren: 4,
      });
      expect(parentOf(plan, job(R.LeafAggregation, 3, 0, 3))).to.deep.equal({
        parent: job(R.NodeAggregation, 3, 0, 0),
        childIndex: 3,
        expectedChildren: 4,
      });
    });

    it('climbs node depths, then the top node of each type feeds the tip', () => {
      const c5 = plan.circuits.find((c) => c.basicCircuitId === 5)!;
      expect(c5.leafJobs).to.equal(1025);
      expect(c5.nodeLevels).to.deep.equal([33, 2, 1]);
      expect(parentOf(plan, job(R.LeafAggregation, 7, 0, 1024))!.parent).to.deep.equal(job(R.NodeAggregation, 7, 0, 32));
      expect(parentOf(plan, job(R.LeafAggregation, 7, 0, 1024))!.expectedChildren).to.equal(1);
      expect(parentOf(plan, job(R.NodeAggregation, 7, 0, 32))).to.deep.equal({
        parent: job(R.NodeAggregation, 7, 1, 1),
        childIndex: 0,
        expectedChildren: 1,
      });
      expect(parentOf(plan, job(R.NodeAggregation, 7, 1, 0))).to.deep.equal({
        parent: job(R.NodeAggregation, 7, 2, 0),
        childIndex: 0,
        expectedChildren: 2,
      });
      // leaf ids present: 3 (MainVM), 7 (Keccak), 18 (EIP4844Repack)
      expect(parentOf(plan, job(R.NodeAggregation, 7, 2, 0))).to.deep.equal({
        parent: job(R.RecursionTip, 255, 0, 0),
        childIndex: 1,
        expectedChildren: 3,
      });
      expect(parentOf(plan, job(R.NodeAggregation, 18, 0, 0))!.childIndex).to.equal(2);
    });

    it('tip -> scheduler -> compression -> nothing', () => {
      expect(parentOf(plan, job(R.RecursionTip, 255, 0, 0))).to.deep.equal({
        parent: job(R.Scheduler, 1, 0, 0),
        childIndex: 0,
        expectedChildren: 1,
      });
      expect(parentOf(plan, job(R.Scheduler, 1, 0, 0))!.parent).to.deep.equal(job(R.Compression, 1, 0, 0));
      expect(parentOf(plan, job(R.Compression, 1, 0, 0))).to.equal(null);
    });

    it('rejects jobs outside the plan', () => {
      expect(() => parentOf(plan, job(R.BasicCircuits, 1, 0, 100))).to.throw(/not part of this plan/);
      expect(() => parentOf(plan, job(R.BasicCircuits, 2, 0, 0))).to.throw(/not part of this plan/);
      expect(() => parentOf(plan, job(R.NodeAggregation, 3, 1, 0))).to.throw(/not part of this plan/);
      expect(() => parentOf(plan, job(R.NodeAggregation, 2, 0, 0))).to.throw(/not part of this plan/);
      expect(() => parentOf(plan, job(R.RecursionTip, 1, 0, 0))).to.throw(/not part of this plan/);
      expect(() => childrenOf(plan, job(R.LeafAggregation, 3, 0, -1))).to.throw(/not part of this plan/);
    });

    for (const [name, counts, geometry] of [
      ['small mixed batch', { 1: 100, 5: 1025 * 32, 255: 1 }, DEFAULT_GEOMETRY],
      ['mainnet-like batch', MAINNET_LIKE, DEFAULT_GEOMETRY],
      ['tiny arities', { 1: 37, 2: 2, 16: 9 }, { leafArity: 3, nodeArity: 2, tipCapacity: 20 }],
    ] as const) {
      it(`parentOf and childrenOf agree on every job (${name})`, () => {
        const p = planAggregation(counts, geometry);
        const seenChildren = new Map<string, JobCoord[]>();
        const key = (j: JobCoord) => `${j.round}/${j.circuitId}/${j.depth}/${j.seq}`;
        const jobs = allJobs(p);
        expect(jobs).to.have.length(p.totalJobs);
        // plain assertions here: chai per job is too slow for tens of thousands of jobs
        const fail = (msg: string) => expect.fail(msg);
        for (const j of jobs) {
          if (levelSize(p, j.round, j.circuitId, j.depth) <= j.seq) fail(`levelSize too small for ${key(j)}`);
          const link = parentOf(p, j);
          if (link === null) {
            if (j.round !== R.Compression) fail(`no parent for ${key(j)}`);
            continue;
          }
          const siblings = childrenOf(p, link.parent);
          const at = siblings[link.childIndex];
          if (at === undefined || key(at) !== key(j)) fail(`child ${link.childIndex} of ${key(link.parent)} is not ${key(j)}`);
          if (siblings.length !== link.expectedChildren) fail(`expectedChildren of ${key(link.parent)}`);
          const list = seenChildren.get(key(link.parent));
          if (list === undefined) seenChildren.set(key(link.parent), [j]);
          else list.push(j);
        }
        const maxFanIn = Math.max(p.geometry.leafArity, p.geometry.nodeArity, p.geometry.tipCapacity);
        for (const j of jobs) {
          const n = seenChildren.get(key(j))?.length ?? 0;
          if (n !== expectedChildren(p, j)) fail(`${key(j)} has ${n} children, expects ${expectedChildren(p, j)}`);
          if (j.round === R.BasicCircuits ? n !== 0 : n < 1 || n > maxFanIn) fail(`${key(j)} has ${n} children`);
        }
      });
    }
  });
});
