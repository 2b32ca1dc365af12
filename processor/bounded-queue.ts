/**
 * An async FIFO with a fixed capacity: `put` waits while the queue is full, `take` waits while
 * it is empty. This is what gives the runner back-pressure between its stages.
 *
 * `close()` ends the stream: further puts are refused, takers drain what is left and then get
 * `{ done: true }`. Every wait can be cut short with an AbortSignal. Any number of producers
 * and consumers may share a queue; waiting putters and takers are served first come, first
 * served, and the queue never holds more than `capacity` items.
 */

export type Taken<T> = { done: false; value: T } | { done: true; value?: undefined };

interface Waiter<R> {
  resolve(result: R): void;
  dispose(): void;
}

interface PutWaiter<T> extends Waiter<boolean> {
  item: T;
}

export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private readonly takers: Waiter<Taken<T>>[] = [];
  private readonly putters: PutWaiter<T>[] = [];
  private readonly spaceWaiters: Waiter<boolean>[] = [];
  private isClosed = false;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError('BoundedQueue: capacity must be an integer >= 1');
  }

  /** Items in the queue (not counting putters still waiting for room). */
  get size(): number {
    return this.items.length;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Adds `item`, waiting for room if the queue is full. Resolves `true` once added, `false` if
   * the queue was closed or `signal` aborted first (the item is then not in the queue).
   */
  put(item: T, signal?: AbortSignal): Promise<boolean> {
    if (this.isClosed || signal?.aborted) return Promise.resolve(false);
    const taker = this.takers.shift();
    if (taker) {
      taker.dispose();
      taker.resolve({ done: false, value: item });
      return Promise.resolve(true);
    }
    if (this.hasRoom()) {
      this.items.push(item);
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const waiter = this.enlist(this.putters, resolve, false, signal) as PutWaiter<T>;
      waiter.item = item;
    });
  }

  /**
   * Resolves `true` when there is room for one item, `false` if the queue was closed or `signal`
   * aborted first. Advisory: with a single producer the room is still there at its next `put`,
   * so a producer can wait for room before it fetches the item, and hold nothing while blocked.
   */
  waitForSpace(signal?: AbortSignal): Promise<boolean> {
    if (this.isClosed || signal?.aborted) return Promise.resolve(false);
    if (this.hasRoom()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      this.enlist(this.spaceWaiters, resolve, false, signal);
    });
  }

  /** The oldest item, waiting for one if empty; `{ done: true }` when closed and drained, or aborted. */
  take(signal?: AbortSignal): Promise<Taken<T>> {
    if (this.items.length > 0) {
      const value = this.items.shift() as T;
      this.onRoom();
      return Promise.resolve({ done: false, value });
    }
    if (this.isClosed || signal?.aborted) return Promise.resolve({ done: true });
    return new Promise<Taken<T>>((resolve) => {
      this.enlist(this.takers, resolve, { done: true }, signal);
    });
  }

  /** Up to `max` items that are there now, oldest first, without waiting (possibly none). */
  takeReady(max: number): T[] {
    const taken: T[] = [];
    while (taken.length < max && this.items.length > 0) {
      taken.push(this.items.shift() as T);
      this.onRoom();
    }
    return taken;
  }

  /** No more puts (waiting putters get `false`). Items already in stay takeable. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const waiter of this.putters.splice(0)) this.settle(waiter, false);
    for (const waiter of this.spaceWaiters.splice(0)) this.settle(waiter, false);
    // Takers only wait while the queue is empty, so the stream is over for them.
    for (const waiter of this.takers.splice(0)) this.settle<Taken<T>>(waiter, { done: true });
  }

  /** Removes and returns everything still queued (for a report when giving up). */
  drain(): T[] {
    const drained = this.items.splice(0);
    while (this.items.length < this.capacity && this.putters.length > 0) this.admitPutter();
    this.onRoom();
    return drained;
  }

  private hasRoom(): boolean {
    return this.items.length < this.capacity && this.putters.length === 0;
  }

  private admitPutter(): void {
    const putter = this.putters.shift() as PutWaiter<T>;
    this.items.push(putter.item);
    this.settle(putter, true);
  }

  private onRoom(): void {
    if (this.putters.length > 0) {
      this.admitPutter();
      return;
    }
    if (this.items.length < this.capacity) {
      for (const waiter of this.spaceWaiters.splice(0)) this.settle(waiter, true);
    }
  }

  private settle<R>(waiter: Waiter<R>, result: R): void {
    waiter.dispose();
    waiter.resolve(result);
  }

  private enlist<R>(list: Waiter<R>[], resolve: (result: R) => void, onAbort: R, signal?: AbortSignal): Waiter<R> {
    const abort = (): void => {
      const index = list.indexOf(waiter);
      if (index >= 0) {
        list.splice(index, 1);
        resolve(onAbort);
      }
    };
    const waiter: Waiter<R> = { resolve, dispose: () => signal?.removeEventListener('abort', abort) };
    list.push(waiter);
    signal?.addEventListener('abort', abort, { once: true });
    return waiter;
  }
}
