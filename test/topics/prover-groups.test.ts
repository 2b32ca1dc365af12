import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregationRound, allPairs, pairKey } from '../../topics/catalog';
import {
  DEFAULT_PROVER_GROUPS_FILE,
  defaultProverGroups,
  groupOfPair,
  isKnownGroup,
  loadProverGroups,
  pairsForGroup,
  runsBatchWitnessGeneration,
  validateProverGroups,
} from '../../topics/prover-groups';

type RawConfig = { batchWitnessGenerationGroup: unknown; groups: Array<{ id: unknown; pairs: unknown[] }> };
const raw = (): RawConfig => JSON.parse(readFileSync(DEFAULT_PROVER_GROUPS_FILE, 'utf8'));
const keys = (pairs: ReadonlyArray<{ round: number; circuitId: number }>) => pairs.map((p) => pairKey(p as never));

describe('topics/prover-groups', () => {
  it('the default file has the 15 groups, covering every pair exactly once', () => {
    const config = defaultProverGroups();
    expect(config.groups.map((g) => g.id)).to.deep.equal([...Array(15).keys()]);
    const assigned = config.groups.flatMap((g) => keys(g.pairs));
    expect([...assigned].sort()).to.deep.equal(keys(allPairs()).sort());
    expect(config.batchWitnessGenerationGroup).to.equal(0);
  });

  it('keeps the table from the facts and places the newer pairs', () => {
    expect(keys(pairsForGroup(1))).to.deep.equal(['(1,0)']);
    expect(keys(pairsForGroup(2))).to.deep.equal(['(2,0)', '(4,0)', '(6,0)', '(9,0)']);
    expect(keys(pairsForGroup(9))).to.deep.equal(['(12,1)', '(13,1)', '(14,1)', '(15,1)']);
    expect(keys(pairsForGroup(13))).to.deep.equal(['(14,0)', '(15,0)', '(255,0)', '(16,0)', '(17,0)', '(18,0)', '(19,0)']);
    expect(keys(pairsForGroup(14))).to.deep.equal(['(16,1)', '(17,1)', '(18,1)', '(19,1)', '(20,1)', '(21,1)', '(22,1)']);
    // group 0: scheduler, every node pair, tip, compression
    const g0 = pairsForGroup(0);
    expect(keys(g0.filter((p) => p.round !== AggregationRound.NodeAggregation))).to.deep.equal(['(1,4)', '(255,3)', '(1,5)']);
    expect(g0.filter((p) => p.round === AggregationRound.NodeAggregation)).to.have.length(20);
    expect(groupOfPair({ round: AggregationRound.NodeAggregation, circuitId: 22 })).to.equal(0);
    expect(groupOfPair({ round: AggregationRound.BasicCircuits, circuitId: 19 })).to.equal(13);
    expect(groupOfPair({ round: AggregationRound.Compression, circuitId: 1 })).to.equal(0);
  });

  it('an unknown group id means all pairs (and batch witness generation)', () => {
    expect(isKnownGroup(99)).to.equal(false);
    expect(pairsForGroup(99)).to.deep.equal(allPairs());
    expect(pairsForGroup(-1)).to.deep.equal(allPairs());
    expect(runsBatchWitnessGeneration(99)).to.equal(true);
    expect(runsBatchWitnessGeneration(0)).to.equal(true);
    expect(runsBatchWitnessGeneration(1)).to.equal(false);
  });

  it('names unknown pairs, duplicates and unassigned pairs', () => {
    const c = raw();
    c.groups[1]!.pairs.push('(20,0)', '(2,2)', '(5,0)', '(1,0)', 'MainVM');
    c.groups[14]!.pairs = c.groups[14]!.pairs.filter((p) => p !== '(22,1)' && p !== '(21,1)');
    let message = '';
    try {
      validateProverGroups(c);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.contain('group 1: unknown pair (20,0)');
    expect(message).to.contain('group 1: malformed pair "MainVM"');
    expect(message).to.contain('pair (3,2) is in more than one group: 0, 1');
    expect(message).to.contain('pair (5,0) is in more than one group: 1, 5');
    expect(message).to.contain('pair (1,0) is listed more than once in group 1');
    expect(message).to.contain('pairs in no group: (21,1) (22,1)');
  });

  it('checks group ids and the batch group', () => {
    const dup = raw();
    dup.groups[2]!.id = 1;
    expect(() => validateProverGroups(dup)).to.throw(/group 1 is defined more than once/);
    const badBatch = raw();
    badBatch.batchWitnessGenerationGroup = 42;
    expect(() => validateProverGroups(badBatch)).to.throw(/batchWitnessGenerationGroup 42 is not a defined group/);
    const badId = raw();
    badId.groups[0]!.id = 'zero';
    expect(() => validateProverGroups(badId)).to.throw(/groups\[0\]: id must be a non-negative integer/);
    expect(() => validateProverGroups({ groups: {} })).to.throw(/"groups" must be an array/);
    expect(() => validateProverGroups({ ...raw(), extra: 1 })).to.throw(/unknown key "extra"/);
  });

  it('node pairs may be listed one by one instead of (2,2)', () => {
    const c = raw();
    c.groups[0]!.pairs = ['(1,4)', '(255,3)', '(1,5)'];
    c.groups[6]!.pairs.push(...allPairs().filter((p) => p.round === AggregationRound.NodeAggregation).map(pairKey));
    const config = validateProverGroups(c);
    expect(groupOfPair({ round: AggregationRound.NodeAggregation, circuitId: 3 }, config)).to.equal(6);
  });

  it('loads from a file named by option or environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'groups-'));
    const file = join(dir, 'groups.json');
    const c = raw();
    c.batchWitnessGenerationGroup = 3;
    writeFileSync(file, JSON.stringify(c));
    expect(loadProverGroups({ file }).batchWitnessGenerationGroup).to.equal(3);
    expect(loadProverGroups({ env: { ZKP_PROVER_GROUPS_FILE: file } }).batchWitnessGenerationGroup).to.equal(3);
    expect(loadProverGroups({ env: {} }).batchWitnessGenerationGroup).to.equal(0);
    writeFileSync(file, '{');
    expect(() => loadProverGroups({ file })).to.throw(/cannot read prover groups file/);
  });
});
