// A batch-run's progress per (round, circuit id), computed from the counters' groups and the plan.
import { expect } from 'chai';
import { BatchProgress, GroupProgress } from '../../aggregation';
import { circuitProgress } from '../../ops/status';
import { leafIdForBasic } from '../../topics/catalog';
import { planAggregation } from '../../topics/geometry';

function group(parent: string, expected: number, missing: number[]): GroupProgress {
  const triggered = missing.length === 0;
  return { parent, expected, landed: expected - missing.length, triggered, owner: triggered ? 0 : null, emitted: false, firstLandingAt: null, lastLandingAt: null, idleMs: 0, missing: triggered ? undefined : missing };
}

function progressOf(groups: GroupProgress[]): BatchProgress {
  return { batchRunKey: 'v24.0:b1:run0', now: 0, registeredAt: 0, ttlMs: 1000, total: groups.length, triggered: groups.filter((g) => g.triggered).length, groups, waiting: groups.filter((g) => !g.triggered) };
}

describe('circuitProgress (per round and circuit id)', () => {
  // Basic circuit 1: 5 jobs -> 3 leaf jobs -> node levels [2, 1]; basic circuit 3: 2 jobs -> 1 leaf -> node [1].
  const plan = planAggregation({ 1: 5, 3: 2 }, { leafArity: 2, nodeArity: 2, tipCapacity: 20 });
  const l1 = leafIdForBasic(1);
  const l3 = leafIdForBasic(3);

  it('counts planned jobs per circuit, landed children per circuit and triggered parents as ready', () => {
    const progress = progressOf([
      group(`r1:c${l1}:d0:s0`, 2, []), // basic 1 s0, s1 landed
      group(`r1:c${l1}:d0:s1`, 2, [1]), // basic 1 s2 landed, s3 missing
      group(`r1:c${l1}:d0:s2`, 1, [0]), // basic 1 s4 missing
      group(`r1:c${l3}:d0:s0`, 2, []), // basic 3 both landed
      group(`r2:c${l1}:d0:s0`, 2, [0, 1]),
      group(`r2:c${l1}:d0:s1`, 1, [0]),
      group(`r2:c${l1}:d1:s0`, 2, [0, 1]),
      group(`r2:c${l3}:d0:s0`, 1, []), // leaf 3's proof landed
      group('r3:c255:d0:s0', 2, [0]), // circuit 1's final node proof missing, circuit 3's landed
      group('r4:c1:d0:s0', 1, [0]),
      group('r5:c1:d0:s0', 1, [0]),
    ]);
    const rounds = circuitProgress(plan, progress, false);
    const view = rounds.map((r) => r.map((c) => [c.circuitId, c.total, c.ready, c.done]));
    expect(view[0]).to.deep.equal([
      [1, 5, 5, 3],
      [3, 2, 2, 2],
    ]);
    expect(view[1]).to.deep.equal([
      [l1, 3, 1, 0],
      [l3, 1, 1, 1],
    ]);
    // Node round: circuit 3's single node job was triggered and its proof landed in the tip's group.
    expect(view[2]).to.deep.equal([
      [l1, 3, 0, 0],
      [l3, 1, 1, 1],
    ]);
    expect(view[3]).to.deep.equal([[255, 1, 0, 0]]);
    expect(view[4]).to.deep.equal([[1, 1, 0, 0]]);
    expect(view[5]).to.deep.equal([[1, 1, 0, 0]]);
  });

  it('marks compression done when the final proof is stored', () => {
    const rounds = circuitProgress(plan, progressOf([]), true);
    expect(rounds[5]).to.deep.equal([{ circuitId: 1, total: 1, ready: 1, done: 1 }]);
    expect(rounds[0].map((c) => c.done)).to.deep.equal([0, 0]);
  });
});
