import { expect } from 'chai';
import {
  AggregationRound,
  BASIC_CIRCUITS,
  NODE_CIRCUIT_ID,
  allPairs,
  basicCircuitIds,
  basicCircuitName,
  basicIdForLeaf,
  describePair,
  isHeavy,
  isKnownPair,
  leafCircuitIds,
  leafIdForBasic,
  pairKey,
  pairsOfRound,
  parsePairKey,
  roundName,
} from '../../topics/catalog';

describe('topics/catalog', () => {
  it('numbers the rounds 0..5', () => {
    expect(AggregationRound.BasicCircuits).to.equal(0);
    expect(AggregationRound.LeafAggregation).to.equal(1);
    expect(AggregationRound.NodeAggregation).to.equal(2);
    expect(AggregationRound.RecursionTip).to.equal(3);
    expect(AggregationRound.Scheduler).to.equal(4);
    expect(AggregationRound.Compression).to.equal(5);
    expect(roundName(AggregationRound.RecursionTip)).to.equal('RecursionTip');
  });

  it('lists basic circuits 1..19 and 255 with names and heavy flags', () => {
    expect(basicCircuitIds()).to.deep.equal([...Array.from({ length: 19 }, (_, i) => i + 1), 255]);
    expect(basicCircuitName(1)).to.equal('MainVM');
    expect(basicCircuitName(2)).to.equal('CodeDecommittmentsSorter');
    expect(basicCircuitName(15)).to.equal('Secp256r1Verify');
    expect(basicCircuitName(19)).to.equal('ECPairing');
    expect(basicCircuitName(255)).to.equal('EIP4844Repack');
    expect(BASIC_CIRCUITS.filter((c) => c.heavy).map((c) => c.id)).to.deep.equal([2, 4, 8, 9, 10, 11, 12]);
    expect(isHeavy(1)).to.equal(false);
    expect(() => basicCircuitName(20)).to.throw(/unknown basic circuit id 20/);
  });

  it('maps basic ids to leaf ids and back', () => {
    for (let b = 1; b <= 15; b++) expect(leafIdForBasic(b)).to.equal(b + 2);
    expect(leafIdForBasic(255)).to.equal(18);
    expect([16, 17, 18, 19].map(leafIdForBasic)).to.deep.equal([19, 20, 21, 22]);
    expect(leafCircuitIds()).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 3));
    for (const b of basicCircuitIds()) expect(basicIdForLeaf(leafIdForBasic(b))).to.equal(b);
    expect(() => basicIdForLeaf(2)).to.throw(/unknown leaf circuit id 2/);
    expect(() => leafIdForBasic(0)).to.throw(/unknown basic circuit id 0/);
  });

  it('has one node pair per leaf id, then tip, scheduler, compression', () => {
    const pairs = allPairs();
    expect(pairs).to.have.length(63);
    expect(pairsOfRound(AggregationRound.BasicCircuits)).to.have.length(20);
    expect(pairsOfRound(AggregationRound.LeafAggregation)).to.have.length(20);
    expect(pairsOfRound(AggregationRound.NodeAggregation).map((p) => p.circuitId)).to.deep.equal(leafCircuitIds());
    expect(pairs.slice(-3).map(pairKey)).to.deep.equal(['(255,3)', '(1,4)', '(1,5)']);
    expect(new Set(pairs.map(pairKey)).size).to.equal(pairs.length);
    // the universal node circuit id is not itself a pair: node jobs carry their leaf id
    expect(isKnownPair({ round: AggregationRound.NodeAggregation, circuitId: NODE_CIRCUIT_ID })).to.equal(false);
    expect(allPairs()).to.deep.equal(pairs); // stable
  });

  it('knows which pairs exist', () => {
    for (const p of allPairs()) expect(isKnownPair(p), pairKey(p)).to.equal(true);
    expect(isKnownPair({ round: AggregationRound.BasicCircuits, circuitId: 20 })).to.equal(false);
    expect(isKnownPair({ round: AggregationRound.LeafAggregation, circuitId: 1 })).to.equal(false);
    expect(isKnownPair({ round: AggregationRound.RecursionTip, circuitId: 1 })).to.equal(false);
    expect(isKnownPair({ round: 6 as AggregationRound, circuitId: 1 })).to.equal(false);
  });

  it('writes and parses the "(circuit_id,round)" form', () => {
    expect(pairKey({ round: AggregationRound.RecursionTip, circuitId: 255 })).to.equal('(255,3)');
    for (const p of allPairs()) expect(parsePairKey(pairKey(p))).to.deep.equal(p);
    expect(() => parsePairKey('(1, 0)')).to.throw(/malformed/);
    expect(() => parsePairKey('(01,0)')).to.throw(/malformed/);
    expect(() => parsePairKey('1,0')).to.throw(/malformed/);
    expect(() => parsePairKey('(1,6)')).to.throw(/unknown aggregation round 6/);
  });

  it('describes pairs', () => {
    expect(describePair({ round: AggregationRound.NodeAggregation, circuitId: 3 })).to.equal('NodeAggregation/leaf 3 (MainVM)');
    expect(describePair({ round: AggregationRound.BasicCircuits, circuitId: 255 })).to.equal('BasicCircuits/EIP4844Repack');
    expect(describePair({ round: AggregationRound.Compression, circuitId: 1 })).to.equal('Compression');
  });
});
