import { expect } from 'chai';
import { BoundedQueue } from '../../processor';

describe('processor/bounded-queue', () => {
  it('is first in, first out', async () => {
    const queue = new BoundedQueue<number>(3);
    await queue.put(1);
    await queue.put(2);
    await queue.put(3);
    expect(queue.size).to.equal(3);
    expect((await queue.take()).value).to.equal(1);
    expect((await queue.take()).value).to.equal(2);
    expect((await queue.take()).value).to.equal(3);
  });

  it('makes a put wait while full and a take wait while empty', async () => {
    const queue = new BoundedQueue<string>(1);
    const events: string[] = [];
    await queue.put('a');
    const blockedPut = queue.put('b').then((ok) => events.push(`put b ${ok}`));
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).to.deep.equal([]);
    expect(queue.size).to.equal(1);
    expect((await queue.take()).value).to.equal('a');
    await blockedPut;
    expect(events).to.deep.equal(['put b true']);
    expect((await queue.take()).value).to.equal('b');

    const blockedTake = queue.take();
    await queue.put('c');
    expect(await blockedTake).to.deep.equal({ done: false, value: 'c' });
  });

  it('never holds more than its capacity with many producers', async () => {
    const queue = new BoundedQueue<number>(2);
    let maxSize = 0;
    const producers = Array.from({ length: 5 }, (_, p) =>
      (async () => {
        for (let i = 0; i < 20; i += 1) {
          await queue.put(p * 100 + i);
          maxSize = Math.max(maxSize, queue.size);
        }
      })(),
    );
    const taken: number[] = [];
    while (taken.length < 100) {
      const next = await queue.take();
      if (!next.done) taken.push(next.value);
      maxSize = Math.max(maxSize, queue.size);
    }
    await Promise.all(producers);
    expect(maxSize).to.be.at.most(2);
    expect(new Set(taken).size).to.equal(100);
  });

  it('takeReady takes up to max waiting items without waiting, and lets waiting putters in', async () => {
    const q = new BoundedQueue<number>(2);
    expect(q.takeReady(5)).to.deep.equal([]);
    await q.put(1);
    await q.put(2);
    const third = q.put(3); // waits for room
    expect(q.takeReady(1)).to.deep.equal([1]);
    expect(await third).to.equal(true);
    expect(q.takeReady(5)).to.deep.equal([2, 3]);
    expect(q.size).to.equal(0);
  });

  it('waitForSpace resolves once an item is taken', async () => {
    const queue = new BoundedQueue<number>(1);
    expect(await queue.waitForSpace()).to.equal(true);
    await queue.put(1);
    let spaced = false;
    const waiting = queue.waitForSpace().then((ok) => {
      spaced = ok;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(spaced).to.equal(false);
    await queue.take();
    await waiting;
    expect(spaced).to.equal(true);
  });

  it('drains what is left after close, then reports done; refuses puts', async () => {
    const queue = new BoundedQueue<number>(2);
    await queue.put(1);
    await queue.put(2);
    const blockedPut = queue.put(3);
    queue.close();
    expect(await blockedPut).to.equal(false);
    expect(await queue.put(4)).to.equal(false);
    expect(await queue.take()).to.deep.equal({ done: false, value: 1 });
    expect(await queue.take()).to.deep.equal({ done: false, value: 2 });
    expect(await queue.take()).to.deep.equal({ done: true });
  });

  it('releases waiting takers on close', async () => {
    const queue = new BoundedQueue<number>(1);
    const waiting = queue.take();
    queue.close();
    expect(await waiting).to.deep.equal({ done: true });
  });

  it('cuts waits short on abort without losing or adding items', async () => {
    const queue = new BoundedQueue<number>(1);
    const controller = new AbortController();
    const take = queue.take(controller.signal);
    controller.abort();
    expect(await take).to.deep.equal({ done: true });
    await queue.put(1);
    expect(queue.size).to.equal(1); // the aborted taker did not swallow it

    const putController = new AbortController();
    const put = queue.put(2, putController.signal);
    putController.abort();
    expect(await put).to.equal(false);
    expect(await queue.take()).to.deep.equal({ done: false, value: 1 });
    expect(queue.size).to.equal(0);
  });

  it('rejects a capacity below one', () => {
    expect(() => new BoundedQueue(0)).to.throw(RangeError);
  });
});
