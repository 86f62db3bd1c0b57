// When each UDP query really left, from the kernel's send timestamps (NativeInetSocket.startTxTimestamps). A
// query's round trip is its own (its ID says which attempt was answered), so the DNS probe times its queries
// itself rather than through the engine's send log: each send call's queries are registered under the TX ids
// of its first and last datagram, the ones the kernel timestamps, and the queries between them are placed
// between those two times by their order in the call. Until a timestamp comes a query keeps the time taken
// before the call.

/** A query's send time, replaced by the kernel's. */
export interface Timed {
  sentAt: number;
}

interface Call {
  queries: Timed[];
  firstId: number;
  lastId: number;
  start: number;
  end: number;
}

/** send calls waiting for their timestamps, at most (a driver that timestamps nothing: the oldest are dropped) */
const MAX_WAITING = 4096;
/** the kernel's and the process's clock readings differ a little */
const CLOCK_SLACK_MS = 0.005;

export class QuerySendTimes {
  private readonly waiting = new Map<number, Call>();

  /**
   * `queries[from..to)` went out in one send call whose first datagram has TX id `firstId` (NaN without
   * kernel timestamps: nothing to wait for).
   */
  sent(firstId: number, queries: readonly Timed[], from: number, to: number): void {
    if (!Number.isFinite(firstId) || to <= from) return;
    const first = firstId >>> 0;
    const last = (firstId + (to - from) - 1) >>> 0;
    const call: Call = {
      queries: queries.slice(from, to),
      firstId: first,
      lastId: last,
      start: NaN,
      end: NaN,
    };
    this.wait(first, call);
    if (last !== first) this.wait(last, call);
  }

  /** The kernel's send timestamps: datagram ids[k] left at times[k]. */
  stamps(ids: Float64Array, times: Float64Array, count: number): void {
    for (let k = 0; k < count; k++) {
      const id = ids[k]! >>> 0;
      const call = this.waiting.get(id);
      if (call === undefined) continue;
      this.waiting.delete(id);
      const time = times[k]!;
      const q = call.queries;
      // Before the call was made: another datagram's timestamp, not this one's.
      if (!(time >= q[0]!.sentAt - CLOCK_SLACK_MS)) continue;
      if (id === call.firstId) call.start = time;
      if (id === call.lastId) call.end = time;
      this.place(call);
    }
  }

  private place(call: Call): void {
    const q = call.queries;
    const n = q.length;
    const { start, end } = call;
    if (Number.isNaN(start)) {
      q[n - 1]!.sentAt = end;
      return;
    }
    // Every datagram of the call left at its first one's time or later.
    const span = Number.isNaN(end) ? 0 : end - start;
    for (let k = 0; k < n; k++) {
      const at = start + (n > 1 ? (span * k) / (n - 1) : 0);
      if (k === 0 || !Number.isNaN(end) || at > q[k]!.sentAt) q[k]!.sentAt = at;
    }
  }

  private wait(id: number, call: Call): void {
    this.waiting.delete(id);
    this.waiting.set(id, call);
    if (this.waiting.size > MAX_WAITING) this.waiting.delete(this.waiting.keys().next().value as number);
  }
}
