import { expect } from 'chai';
import { AggregationRound, allPairs } from '../../topics/catalog';
import { plannedTopics } from '../../topics/admin';
import { consumerGroup, handOffRetryTopic, handOffTopic, isValidZone, parseConsumerGroup, parseTopic, topicsForZone } from '../../topics/naming';
import { partitionsForTopic, defaultPartitionConfig } from '../../topics/partitions';

const V = { minor: 24, patch: 2 };
const MAIN_VM = { round: AggregationRound.BasicCircuits, circuitId: 1 };

describe('topics/naming: zones', () => {
  it('names a pair\'s hand-off topic and its retry topic per zone', () => {
    expect(handOffTopic(V, MAIN_VM, 'a')).to.equal('zkp.v24.2.r0.c1.zone-a');
    expect(handOffRetryTopic(V, MAIN_VM, 'eu-west1-b')).to.equal('zkp.v24.2.r0.c1.zone-eu-west1-b.retry');
    expect(consumerGroup(handOffTopic(V, MAIN_VM, 'a'))).to.equal('zkp.v24.2.r0.c1.zone-a.workers');
  });

  it('accepts topic-safe zone names only', () => {
    for (const ok of ['a', 'b', 'z9', 'us-central1-a', 'a'.repeat(32), 'retry']) expect(isValidZone(ok), ok).to.equal(true);
    for (const bad of ['', 'A', 'a.b', 'a_b', '-a', 'a-', 'a b', 'zone/a', 'ä', 'a'.repeat(33)]) {
      expect(isValidZone(bad), bad).to.equal(false);
      expect(() => handOffTopic(V, MAIN_VM, bad), bad).to.throw(/invalid zone/);
    }
  });

  it('parses hand-off topics back with their pair and zone', () => {
    for (const pair of allPairs()) {
      for (const zone of ['a', 'us-central1-a', 'retry']) {
        expect(parseTopic(handOffTopic(V, pair, zone))).to.deep.equal({ version: V, kind: 'handoff', pair, zone });
        expect(parseTopic(handOffRetryTopic(V, pair, zone))).to.deep.equal({ version: V, kind: 'handoff-retry', pair, zone });
      }
    }
    expect(parseConsumerGroup('zkp.v24.2.r1.c3.zone-b.workers')).to.deep.include({ kind: 'handoff', zone: 'b', topic: 'zkp.v24.2.r1.c3.zone-b' });
    // A plain pair topic and its retry topic still parse as before.
    expect(parseTopic('zkp.v24.2.r0.c1.retry')).to.deep.equal({ version: V, kind: 'retry', pair: MAIN_VM });
  });

  it('rejects malformed hand-off names', () => {
    for (const bad of ['zkp.v24.2.r0.c1.zone-', 'zkp.v24.2.r0.c1.zone-a-', 'zkp.v24.2.r0.c1.zone-A', 'zkp.v24.2.r0.c1.zone-a.b', 'zkp.v24.2.r0.c1.retry.zone-a', 'zkp.v24.2.r2.c2.zone-a']) {
      expect(() => parseTopic(bad), bad).to.throw();
    }
  });

  it('plans each zone\'s hand-off topics with their pair\'s partitions', () => {
    const pairs = [MAIN_VM, { round: AggregationRound.Scheduler, circuitId: 1 }];
    expect(topicsForZone(V, pairs, 'a')).to.deep.equal(['zkp.v24.2.r0.c1.zone-a', 'zkp.v24.2.r0.c1.zone-a.retry', 'zkp.v24.2.r4.c1.zone-a', 'zkp.v24.2.r4.c1.zone-a.retry']);
    const planned = plannedTopics(V, { pairs, zones: ['a', 'b'] });
    const names = planned.map((p) => p.topic);
    expect(names).to.include.members(['zkp.v24.2.r0.c1', 'zkp.v24.2.r0.c1.zone-a', 'zkp.v24.2.r4.c1.zone-b.retry', 'zkp.v24.2.dlt']);
    const config = defaultPartitionConfig();
    for (const p of planned.filter((t) => t.topic.includes('.zone-'))) {
      expect(p.partitions, p.topic).to.equal(partitionsForTopic(config, p.topic.replace(/\.zone-[a-z0-9-]+/, '')));
    }
    expect(plannedTopics(V, { pairs }).some((p) => p.topic.includes('.zone-'))).to.equal(false);
  });
});
