import { expect } from 'chai';
import { AggregationRound, allPairs } from '../../topics/catalog';
import {
  aggregationReadyTopic,
  batchesTopic,
  consumerGroup,
  dltTopic,
  finalProofsTopic,
  pairTopic,
  parseConsumerGroup,
  parseTopic,
  proofsLandedTopic,
  retryTopic,
  topicsForVersion,
  versionPrefix,
  versionString,
} from '../../topics/naming';

const V = { minor: 24, patch: 2 };

describe('topics/naming', () => {
  it('names pair and retry topics with version and pair', () => {
    expect(versionString(V)).to.equal('v24.2');
    expect(versionPrefix(V)).to.equal('zkp.v24.2.');
    expect(pairTopic(V, { round: AggregationRound.BasicCircuits, circuitId: 1 })).to.equal('zkp.v24.2.r0.c1');
    expect(pairTopic(V, { round: AggregationRound.NodeAggregation, circuitId: 18 })).to.equal('zkp.v24.2.r2.c18');
    expect(pairTopic(V, { round: AggregationRound.Compression, circuitId: 1 })).to.equal('zkp.v24.2.r5.c1');
    expect(retryTopic(V, { round: AggregationRound.RecursionTip, circuitId: 255 })).to.equal('zkp.v24.2.r3.c255.retry');
  });

  it('names the per-version topics and consumer groups', () => {
    expect(batchesTopic(V)).to.equal('zkp.v24.2.batches');
    expect(proofsLandedTopic(V)).to.equal('zkp.v24.2.proofs-landed');
    expect(aggregationReadyTopic(V)).to.equal('zkp.v24.2.aggregation-ready');
    expect(finalProofsTopic(V)).to.equal('zkp.v24.2.final-proofs');
    expect(dltTopic(V)).to.equal('zkp.v24.2.dlt');
    expect(consumerGroup('zkp.v24.2.r0.c1')).to.equal('zkp.v24.2.r0.c1.workers');
    expect(consumerGroup(batchesTopic(V))).to.equal('zkp.v24.2.batches.workers');
    expect(() => consumerGroup('orders')).to.throw(/unknown topic "orders"/);
  });

  it('refuses pairs outside the catalog and bad versions', () => {
    expect(() => pairTopic(V, { round: AggregationRound.NodeAggregation, circuitId: 2 })).to.throw(/unknown pair \(2,2\)/);
    expect(() => pairTopic({ minor: -1, patch: 0 }, { round: 0, circuitId: 1 })).to.throw(/minor must be a non-negative integer/);
    expect(() => batchesTopic({ minor: 1, patch: 0.5 })).to.throw(/patch must be a non-negative integer/);
  });

  it('parses every name it produces back', () => {
    const topics = topicsForVersion(V, allPairs());
    expect(topics).to.have.length(63 * 2 + 5);
    expect(new Set(topics).size).to.equal(topics.length);
    for (const t of topics) {
      const parsed = parseTopic(t);
      expect(parsed.version).to.deep.equal(V);
      if (parsed.kind === 'pair') expect(pairTopic(V, parsed.pair)).to.equal(t);
      else if (parsed.kind === 'retry') expect(retryTopic(V, parsed.pair)).to.equal(t);
      else expect(`zkp.v24.2.${parsed.kind}`).to.equal(t);
      // names use only [a-z0-9.-]: no '_' to collide with '.' in Kafka metric names
      expect(t).to.match(/^[a-z0-9.-]+$/);
      expect(t.length).to.be.lessThan(250);
    }
    expect(parseTopic('zkp.v0.0.r1.c22.retry')).to.deep.equal({
      version: { minor: 0, patch: 0 },
      kind: 'retry',
      pair: { round: 1, circuitId: 22 },
    });
    expect(parseTopic('zkp.v7.3.final-proofs')).to.deep.equal({ version: { minor: 7, patch: 3 }, kind: 'final-proofs' });
    expect(parseConsumerGroup('zkp.v7.3.r4.c1.workers')).to.deep.equal({
      version: { minor: 7, patch: 3 },
      kind: 'pair',
      pair: { round: 4, circuitId: 1 },
      topic: 'zkp.v7.3.r4.c1',
    });
  });

  it('rejects unknown names with a clear error', () => {
    const bad = [
      'orders',
      'zkp.v24.batches',
      'zkp.v24.2',
      'zkp.v24.2.',
      'zkp.v024.2.batches',
      'zkp.v24.2.batch',
      'zkp_v24_2_batches',
      'zkp.v24.2.r0.c01',
      'zkp.v24.2.r0.c1.retry.retry',
      'zkp.v24.2.r0.c1.workers',
      'ZKP.v24.2.batches',
    ];
    for (const name of bad) expect(() => parseTopic(name), name).to.throw(new RegExp(`unknown topic "${name.replace(/\./g, '\\.')}"`));
    expect(() => parseTopic('zkp.v24.2.r0.c20')).to.throw(/pair \(20,0\) is not in the catalog/);
    expect(() => parseTopic('zkp.v24.2.r6.c1')).to.throw(/pair \(1,6\) is not in the catalog/);
    expect(() => parseTopic('zkp.v24.2.r2.c2')).to.throw(/pair \(2,2\) is not in the catalog/);
    expect(() => parseTopic('zkp.v24.2.x')).to.throw(/neither a pair/);
    expect(() => parseConsumerGroup('zkp.v24.2.batches')).to.throw(/unknown consumer group/);
  });
});
