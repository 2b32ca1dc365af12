// The dashboard's pure parts: throughput from offset samples, the topic rows merged from the
// offsets and the scaling report, the batch tree, settled batches, group health, the SSE frame.
import { expect } from 'chai';
import { ThroughputTracker, throughputBetween } from '../../dashboard/rates';
import { DashboardSnapshot, batchNode, groupHealth, isSettled, scalingSection, topicRows } from '../../dashboard/snapshot';
import { snapshotEvent } from '../../dashboard/server';
import type { TopicLag } from '../../ops/lag';
import type { BatchStatusReport } from '../../ops/status';
import type { GroupsReport } from '../../ops/groups';
import type { ScalingReport } from '../../metrics/scaling-report';

function lagRow(topic: string, kind: TopicLag['kind'], end: number, committed: number | null, pair: string | null = null): TopicLag {
  const group = kind === 'dlt' ? null : `${topic.replace(/\.retry$/, '')}.workers`;
  return { topic, kind, pair, group, groupState: group ? 'Stable' : null, members: group ? 1 : null, partitions: 2, records: end, end, committed, offsetLag: committed === null ? end : end - committed, lag: 0, exact: true, byPartition: [] };
}

describe('dashboard: throughput', () => {
  it('divides the change of end and committed offsets by the time between samples', () => {
    expect(throughputBetween({ atMs: 0, end: 10, committed: 4 }, { atMs: 2000, end: 30, committed: 14 })).to.deep.equal({ producedPerS: 10, consumedPerS: 5, spanMs: 2000 });
    expect(throughputBetween({ atMs: 0, end: 10, committed: null }, { atMs: 1000, end: 10, committed: 3 }).consumedPerS).to.equal(null);
  });

  it('measures over the window, starts over when offsets go backwards, and uses the first committed sample', () => {
    const t = new ThroughputTracker(5000);
    expect(t.record('a', { atMs: 0, end: 0, committed: null }).producedPerS).to.equal(null);
    expect(t.record('a', { atMs: 1000, end: 10, committed: 2 })).to.deep.equal({ producedPerS: 10, consumedPerS: null, spanMs: 1000 });
    // committed first seen at 1000: consumed over 1000..3000
    expect(t.record('a', { atMs: 3000, end: 30, committed: 12 })).to.deep.equal({ producedPerS: 10, consumedPerS: 5, spanMs: 3000 });
    // the 0 ms sample falls out of the 5 s window once a newer one is old enough
    expect(t.record('a', { atMs: 7000, end: 40, committed: 22 }).spanMs).to.equal(6000);
    // at 9000 the window starts at 4000: the oldest sample kept is the last one before it (3000)
    expect(t.record('a', { atMs: 9000, end: 60, committed: 30 })).to.deep.equal({ producedPerS: 5, consumedPerS: 3, spanMs: 6000 });
    // the topic was recreated
    expect(t.record('a', { atMs: 10_000, end: 1, committed: 0 }).producedPerS).to.equal(null);
    t.retain(new Set());
    expect(t.record('a', { atMs: 11_000, end: 5, committed: 0 }).producedPerS).to.equal(null);
  });
});

describe('dashboard: snapshot parts', () => {
  it('topic rows: offsets from the lag report, waiting records and replicas from the scaling report, rates from earlier samples', () => {
    const scaling: ScalingReport = {
      version: 'v24.0',
      groups: [
        {
          group: 'zkp.v24.0.r0.c1.workers',
          proverGroup: 1,
          lag: 40,
          offsetLag: 44,
          partitions: 8,
          replicas: 3,
          topics: [
            { topic: 'zkp.v24.0.r0.c1', lag: 40, offsetLag: 44, partitions: 4, replicas: 3 },
            { topic: 'zkp.v24.0.r0.c1.retry', lag: 0, offsetLag: 0, partitions: 4, replicas: 0 },
          ],
        },
      ],
      proverGroups: [{ proverGroup: 1, replicas: 3 }],
    };
    const rates = new ThroughputTracker();
    topicRows([lagRow('zkp.v24.0.r0.c1', 'pair', 50, 4, '(1,0)'), lagRow('zkp.v24.0.dlt', 'dlt', 2, null)], scaling, rates, 0);
    const rows = topicRows([lagRow('zkp.v24.0.r0.c1', 'pair', 60, 6, '(1,0)'), lagRow('zkp.v24.0.r0.c1.retry', 'retry', 0, null, '(1,0)'), lagRow('zkp.v24.0.dlt', 'dlt', 3, null)], scaling, rates, 2000);
    expect(rows.map((r) => [r.topic, r.label, r.lag, r.replicas, r.producedPerS, r.consumedPerS])).to.deep.equal([
      ['zkp.v24.0.r0.c1', 'BasicCircuits/MainVM', 40, 3, 5, 1],
      ['zkp.v24.0.r0.c1.retry', 'BasicCircuits/MainVM (retry)', 0, 0, null, null],
      ['zkp.v24.0.dlt', 'dlt', null, null, 0.5, null],
    ]);
    expect(rows[0].offsetLag).to.equal(54);
    // Without a scaling report the lag is unknown, not zero.
    expect(topicRows([lagRow('zkp.v24.0.r0.c1', 'pair', 60, 6, '(1,0)')], null, rates, 3000)[0].lag).to.equal(null);
    const section = scalingSection(scaling, 16);
    expect(section.proverGroups).to.deep.equal([{ proverGroup: 1, replicas: 3, lag: 40 }]);
    expect(section.groups[0]).to.not.have.property('topics');
  });

  it('batch tree: rounds with their circuits labelled, done jobs summed; settled only when complete and accepted', () => {
    const report = {
      version: 'v24.0',
      batch: 7,
      run: 0,
      batchRunKey: 'v24.0:b7:run0',
      runs: [0],
      registered: true,
      source: 'redis',
      plan: { circuits: 1, jobsPerRound: [2, 1, 1, 1, 1, 1], totalJobs: 7, geometry: { leafArity: 2, nodeArity: 2, tipCapacity: 20 } },
      rounds: [
        { round: 0, name: 'BasicCircuits', total: 2, ready: 2, done: 2, circuits: [{ circuitId: 1, total: 2, ready: 2, done: 2 }] },
        { round: 1, name: 'LeafAggregation', total: 1, ready: 1, done: 0, circuits: [{ circuitId: 3, total: 1, ready: 1, done: 0 }] },
        ...[2, 3, 4, 5].map((round) => ({ round, name: 'x', total: 1, ready: 0, done: 0, circuits: [] })),
      ],
      groups: { total: 5, triggered: 1 },
      waiting: [{ parent: 'r2:c3:d0:s0', jobId: 'j', landed: 0, expected: 1, idleMs: 0, missing: [0], missingJobs: [] }],
      finalProof: { key: 'k', exists: false },
      complete: false,
      core: { state: 'picked', accepted: false, provenAt: null, proofDigest: null },
    } as BatchStatusReport;
    const node = batchNode(report);
    expect(node).to.include({ key: 'v24.0:b7:run0', batch: 7, doneJobs: 2, totalJobs: 7, waitingGroups: 1, finalProof: false });
    expect(node.rounds[0].circuits[0].label).to.equal('BasicCircuits/MainVM');
    expect(node.rounds[1].circuits[0].label).to.equal('LeafAggregation/leaf 3 (MainVM)');
    expect(isSettled(node, true)).to.equal(false);
    const done = { ...node, complete: true };
    expect(isSettled(done, false)).to.equal(true);
    expect(isSettled(done, true)).to.equal(false);
    expect(isSettled({ ...done, core: { state: 'proven', accepted: true, provenAt: 1, proofDigest: 'd' } }, true)).to.equal(true);
    expect(isSettled({ ...done, core: { error: 'down' } }, true)).to.equal(false);
  });

  it('group health: every consumer group with its prover group, state and members (client, host, partitions held)', () => {
    const member = { memberId: 'm', clientId: 'p-1', host: '/10.0.0.1', assignment: { 'zkp.v24.0.r0.c1': [0, 1], 'zkp.v24.0.r0.c1.retry': [0] } };
    const report: GroupsReport = {
      groups: [{ id: 1, basicWitnessGeneration: false, consumers: [{ pair: '(1,0)', label: 'BasicCircuits/MainVM', topics: ['zkp.v24.0.r0.c1', 'zkp.v24.0.r0.c1.retry'], topicExists: true, group: 'zkp.v24.0.r0.c1.workers', state: 'Stable', members: [member] }] }],
      gateway: { pair: 'final-proofs', label: 'gateway', topics: ['zkp.v24.0.final-proofs'], topicExists: true, group: 'zkp.v24.0.final-proofs.workers', state: 'Empty', members: [] },
    };
    expect(groupHealth(report)).to.deep.equal([
      { proverGroup: 1, pair: '(1,0)', label: 'BasicCircuits/MainVM', group: 'zkp.v24.0.r0.c1.workers', topicExists: true, state: 'Stable', members: [{ clientId: 'p-1', host: '/10.0.0.1', partitions: 3 }] },
      { proverGroup: null, pair: 'final-proofs', label: 'gateway', group: 'zkp.v24.0.final-proofs.workers', topicExists: true, state: 'Empty', members: [] },
    ]);
  });

  it('an SSE frame carries the snapshot as one data line with its sequence as id', () => {
    const s = { version: 'v24.0', sequence: 12, takenAtMs: 1, tookMs: 2, topics: [], scaling: null, batches: [], deadLetters: null, health: { kafka: { ok: true, detail: 'line\nbreak', latencyMs: null }, redis: { ok: true, detail: 'PONG', latencyMs: 1 }, core: null, groups: [] }, errors: {} } as DashboardSnapshot;
    const frame = snapshotEvent(s);
    const lines = frame.split('\n');
    expect(lines.slice(0, 2)).to.deep.equal(['id: 12', 'event: snapshot']);
    expect(JSON.parse(lines[2].slice('data: '.length))).to.deep.equal(s);
    expect(frame.endsWith('\n\n')).to.equal(true);
    expect(lines).to.have.length(5);
  });
});
