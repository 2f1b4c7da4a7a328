/**
 * A bounded pool of async workers fed by a queue. `add` waits while the queue is full, so a producer that lists
 * faster than the workers transfer cannot pile up unbounded work in memory.
 */
export class WorkPool<T> {
  private readonly queue: T[] = [];
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private spaceWaiters: (() => void)[] = [];

  constructor(private readonly concurrency: number, private readonly worker: (item: T) => Promise<void>,
    private readonly maxQueued = concurrency * 64) {}

  async add(item: T): Promise<void> {
    while (this.queue.length >= this.maxQueued) await new Promise<void>((r) => this.spaceWaiters.push(r));
    this.queue.push(item);
    this.pump();
  }

  /** Adds `item` unless the queue is full; never waits. Returns false when it was not added. */
  tryAdd(item: T): boolean {
    if (this.queue.length >= this.maxQueued) return false;
    this.queue.push(item);
    this.pump();
    return true;
  }

  /** Resolves when the queue is empty and every worker has finished. */
  async drain(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const item = this.queue.shift() as T;
      this.running++;
      const wake = this.spaceWaiters.shift();
      if (wake) wake();
      // The worker owns its errors; a rejection here would be a bug, and it must not stall the pool.
      this.worker(item).catch(() => undefined).finally(() => {
        this.running--;
        this.pump();
        if (this.running === 0 && this.queue.length === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          waiters.forEach((w) => w());
        }
      });
    }
  }
}

/** Runs `fn` over `items` with at most `concurrency` at once; the first error rejects after all started work ends. */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        await fn(items[i], i);
      } catch (err) {
        if (failure === undefined) failure = err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  if (failure !== undefined) throw failure;
}
