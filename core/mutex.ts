// A FIFO async mutex. The core is one process, so serializing the registry's read-modify-write
// sections in-process is enough to keep two callers from taking the same batch.
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `fn` once every earlier holder has finished; holders run one at a time, in call order. */
  runExclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(() => fn());
    // The next holder waits for this one whether it succeeded or failed.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
