import { expect } from 'chai';
import { OffsetTracker } from '../../consumers/kafka/offset-tracker';

describe('OffsetTracker', () => {
  it('commits nothing before any offset completes', () => {
    const t = new OffsetTracker();
    t.begin('a', 0, '5');
    expect(t.toCommit()).to.deep.equal([]);
  });

  it('commits only the contiguous completed prefix when jobs finish out of order', () => {
    const t = new OffsetTracker();
    for (const o of ['10', '11', '12', '13']) t.begin('a', 0, o);
    t.complete('a', 0, '12');
    t.complete('a', 0, '11');
    expect(t.toCommit()).to.deep.equal([]);
    t.complete('a', 0, '10');
    expect(t.toCommit()).to.deep.equal([{ topic: 'a', partitions: [{ partition: 0, offset: '13' }] }]);
    t.complete('a', 0, '13');
    expect(t.toCommit()[0].partitions[0].offset).to.equal('14');
  });

  it('does not offer an offset again once it is marked committed', () => {
    const t = new OffsetTracker();
    t.begin('a', 1, '0');
    t.complete('a', 1, '0');
    const c = t.toCommit();
    t.markCommitted(c);
    expect(t.toCommit()).to.deep.equal([]);
  });

  it('ignores duplicate and unknown completions', () => {
    const t = new OffsetTracker();
    t.begin('a', 0, '1');
    t.begin('a', 0, '2');
    t.complete('a', 0, '2');
    t.complete('a', 0, '2');
    t.complete('a', 0, '99');
    expect(t.toCommit()).to.deep.equal([]);
    expect(t.inFlight()).to.equal(2);
  });

  it('tracks partitions and topics independently, and forgets revoked ones', () => {
    const t = new OffsetTracker();
    t.begin('a', 0, '1');
    t.begin('a', 1, '7');
    t.begin('b', 0, '3');
    t.complete('a', 1, '7');
    t.complete('b', 0, '3');
    expect(t.toCommit()).to.deep.equal([
      { topic: 'a', partitions: [{ partition: 1, offset: '8' }] },
      { topic: 'b', partitions: [{ partition: 0, offset: '4' }] },
    ]);
    t.forget('a', 0);
    expect(t.inFlight()).to.equal(0);
  });
});

describe('OffsetTracker with refetched offsets', () => {
  it('tracks an offset fetched twice once, so it cannot block later commits', () => {
    const t = new OffsetTracker();
    t.begin('a', 0, '4');
    t.begin('a', 0, '4');
    t.begin('a', 0, '5');
    t.complete('a', 0, '4');
    t.complete('a', 0, '5');
    expect(t.toCommit()).to.deep.equal([{ topic: 'a', partitions: [{ partition: 0, offset: '6' }] }]);
    expect(t.inFlight()).to.equal(0);
  });
});
