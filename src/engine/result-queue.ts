// Hands results from socket callbacks to an async iterator. Producers push synchronously from libuv
// callbacks; the consumer awaits. Ending with an error rejects the pending read, so a failure in the
// engine surfaces in the caller's for-await loop instead of being lost.

export class ResultQueue<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: { resolve: () => void } | null = null;
  private roomWaiter: { resolve: () => void; limit: number } | null = null;
  private ended = false;
  private abandoned = false;
  private error: unknown = null;

  push(item: T): void {
    if (this.abandoned) return;
    this.items.push(item);
    this.wake();
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) this.error = error;
    this.wake();
  }

  get length(): number {
    return this.items.length - this.head;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.resolve();
  }

  /**
   * Resolves once the consumer has taken the queue down to `limit` items, so a producer that can make
   * results faster than they are read (the no-reply records at the end of a sweep) keeps memory flat.
   */
  waitForRoom(limit: number): Promise<void> {
    if (this.length <= limit || this.ended || this.abandoned) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.roomWaiter = { resolve, limit };
    });
  }

  /**
   * The reader has stopped for good: what is queued or pushed from now on is dropped, and a producer waiting
   * for room goes on (so it can wind down instead of waiting forever).
   */
  abandon(): void {
    this.abandoned = true;
    this.items = [];
    this.head = 0;
    const w = this.roomWaiter;
    this.roomWaiter = null;
    w?.resolve();
  }

  private checkRoom(): void {
    const w = this.roomWaiter;
    if (w && this.length <= w.limit) {
      this.roomWaiter = null;
      w.resolve();
    }
  }

  async *drain(): AsyncGenerator<T> {
    for (;;) {
      while (this.head < this.items.length) {
        const item = this.items[this.head]!;
        this.items[this.head++] = undefined as T;
        this.checkRoom();
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        yield item;
      }
      this.checkRoom();
      if (this.ended) {
        if (this.error !== null) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.waiter = { resolve };
      });
    }
  }

  /**
   * The same items as drain(), handed over as arrays of everything queued at once: a reader of a large sweep
   * pays one await per batch, not one per item. The producer gets its room back when a batch is taken.
   */
  async *drainBatches(): AsyncGenerator<T[]> {
    for (;;) {
      if (this.head < this.items.length) {
        const batch = this.head === 0 ? this.items : this.items.slice(this.head);
        this.items = [];
        this.head = 0;
        this.checkRoom();
        yield batch;
        continue;
      }
      this.checkRoom();
      if (this.ended) {
        if (this.error !== null) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.waiter = { resolve };
      });
    }
  }
}
