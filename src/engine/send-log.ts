// When each batch of probes went out, by permutation position, for the current pass and the one before:
// an answer's probe index maps back to its position (Permutation.positionOf), and the batch holding that
// position gives the send time. One entry per batch, not per probe: memory grows by 33 bytes per batch.
// A batch is handed to the kernel at one moment but its frames leave one after the other (on a veth the
// kernel runs the whole path to the peer for each, microseconds apiece), so a probe's send time is
// interpolated between the batch's start and the moment its last frame went, by its place in the batch.
// Where the socket gives kernel send timestamps (TxStamps below), the start and the end are the times the
// driver took the batch's first and last frame; otherwise the dispatch and the end of the send call.

function grow<T extends Float64Array | Uint8Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

/** times closer than this (ms) are the same moment: the kernel's and the process's clock readings differ a bit */
const CLOCK_SLACK_MS = 0.005;
const KERNEL_START = 1;
const KERNEL_END = 2;

class Checkpoints {
  /** per batch: first position, first position after it, start time, time the last frame went */
  from: Float64Array = new Float64Array(1024);
  to: Float64Array = new Float64Array(1024);
  start: Float64Array = new Float64Array(1024);
  end: Float64Array = new Float64Array(1024);
  /** per batch: KERNEL_START / KERNEL_END when that time is the kernel's */
  kernel: Uint8Array = new Uint8Array(1024);
  length = 0;
  /** changes when the entries are cleared, so a handle to an old entry is recognised */
  generation = 0;

  add(from: number, to: number, time: number): number {
    if (this.length === this.from.length) {
      this.from = grow(this.from);
      this.to = grow(this.to);
      this.start = grow(this.start);
      this.end = grow(this.end);
      this.kernel = grow(this.kernel);
    }
    this.from[this.length] = from;
    this.to[this.length] = to;
    this.start[this.length] = time;
    this.end[this.length] = time;
    this.kernel[this.length] = 0;
    return this.length++;
  }

  /** the send time of the probe at `position`, NaN when no batch holds it */
  timeOf(position: number): number {
    let lo = 0;
    let hi = this.length - 1;
    if (hi < 0 || this.from[0]! > position) return Number.NaN;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.from[mid]! <= position) lo = mid;
      else hi = mid - 1;
    }
    const start = this.start[lo]!;
    // The kernel's time of the first frame may be known before the send call has returned.
    const end = Math.max(start, this.end[lo]!);
    // The kernel's end is when the last frame left, which then gets it exactly; the send call's end comes after
    // the last frame's share of the batch.
    const span = this.to[lo]! - this.from[lo]! - ((this.kernel[lo]! & KERNEL_END) !== 0 ? 1 : 0);
    const share = span > 0 ? Math.min(1, (position - this.from[lo]!) / span) : 0;
    return start + (end - start) * share;
  }

  clear(): void {
    this.length = 0;
    this.generation++;
  }
}

/** A batch in the send log (what SendLog.record returns). */
export interface LoggedBatch {
  readonly pass: Checkpoints;
  readonly index: number;
  readonly generation: number;
}

export class SendLog {
  private current = new Checkpoints();
  private previous = new Checkpoints();
  /** the first position the current pass has not reached yet */
  private frontier = 0;

  /** A new pass starts at position 0; the finished one stays available for late answers. */
  newPass(): void {
    const old = this.previous;
    this.previous = this.current;
    this.current = old;
    this.current.clear();
    this.frontier = 0;
  }

  /**
   * Probes at positions [from, to) were handed to the kernel at `time` (ms, CLOCK_MONOTONIC). Returns a handle
   * for finished() and kernelTime().
   */
  record(from: number, to: number, time: number): LoggedBatch {
    this.frontier = to;
    const pass = this.current;
    return { pass, index: pass.add(from, to, time), generation: pass.generation };
  }

  /**
   * The last frame of a recorded batch went out at `time` (by the process's clock); `startMs`, when given, is
   * when the sender really began (after it built the frames): later than the recorded time, it replaces it.
   * Times the kernel gave (kernelTime) are kept.
   */
  finished(batch: LoggedBatch, time: number, startMs = Number.NaN): void {
    const { pass, index } = batch;
    if (!live(batch)) return;
    if (startMs > pass.start[index]! && (pass.kernel[index]! & KERNEL_START) === 0)
      pass.start[index] = startMs;
    if ((pass.kernel[index]! & KERNEL_END) !== 0) return;
    pass.end[index] = Math.max(time, pass.start[index]!);
  }

  /**
   * The kernel says when the batch's first frame (`first`) and/or its last frame (`last`) left: `time`. Returns
   * false when the time cannot be the batch's (before it was handed over: a timestamp of another packet).
   */
  kernelTime(batch: LoggedBatch, first: boolean, last: boolean, time: number): boolean {
    const { pass, index } = batch;
    if (!live(batch) || !(time >= pass.start[index]! - CLOCK_SLACK_MS)) return false;
    if (first) {
      pass.start[index] = time;
      pass.kernel[index]! |= KERNEL_START;
    }
    if (last) {
      pass.end[index] = time;
      pass.kernel[index]! |= KERNEL_END;
    }
    return true;
  }

  /** Whether the current pass has sent the probe at `position` (if it is one the pass sends). */
  reached(position: number): boolean {
    return position < this.frontier;
  }

  /**
   * When the probe at `position` last went out: in this pass if the pass has reached it (an unanswered probe
   * is sent again in every pass), else in the previous one. NaN when unknown.
   */
  sentAt(position: number): number {
    return position < this.frontier ? this.current.timeOf(position) : this.previous.timeOf(position);
  }
}

function live(batch: LoggedBatch): boolean {
  return batch.generation === batch.pass.generation && batch.index < batch.pass.length;
}

/** timestamps kept per channel for batches not known yet (a power of two) */
const RECENT = 4096;
/** batches of a channel waiting for their timestamps, at most (the oldest are given up) */
const MAX_WAITING = 4096;

interface Waiter {
  batch: LoggedBatch;
  first: boolean;
  last: boolean;
}

/** One channel's timestamps by TX id: the recent ones, and the batches waiting for theirs. */
class ChannelStamps {
  readonly ids = new Float64Array(RECENT).fill(-1);
  readonly times = new Float64Array(RECENT);
  readonly waiting = new Map<number, Waiter>();
}

/**
 * Matches kernel send timestamps (NativePacketSocket.startTxTimestamps) to the batches of a send log by TX id:
 * a batch whose first frame has id F and which sent n frames is timed by the timestamps of ids F and F+n-1.
 * Timestamps and batches may come in either order (a send on a worker thread reports its ids when it is done;
 * the timestamps come through the socket as soon as the frames leave). Memory stays flat: a fixed table of
 * recent timestamps and the batches still waiting, per channel.
 */
export class TxStamps {
  private readonly channels = new Map<number, ChannelStamps>();

  constructor(private readonly log: SendLog) {}

  /** Batch `batch` went out of `channel`, its `count` frames with ids `firstId`, `firstId + 1`, ... */
  expect(channel: number, batch: LoggedBatch, firstId: number, count: number): void {
    if (!(count > 0) || !Number.isFinite(firstId)) return;
    const c = this.channel(channel);
    const first = firstId >>> 0;
    const last = (firstId + count - 1) >>> 0;
    if (first === last) {
      this.expectId(c, first, { batch, first: true, last: true });
      return;
    }
    this.expectId(c, first, { batch, first: true, last: false });
    this.expectId(c, last, { batch, first: false, last: true });
  }

  /** Withdraws what expect() registered (the batch's ids turned out to be others). */
  forget(channel: number, batch: LoggedBatch, firstId: number, count: number): void {
    const c = this.channels.get(channel);
    if (!c || !(count > 0) || !Number.isFinite(firstId)) return;
    for (const id of [firstId >>> 0, (firstId + count - 1) >>> 0]) {
      if (c.waiting.get(id)?.batch === batch) c.waiting.delete(id);
    }
  }

  /** Kernel timestamps of `channel`'s socket: packet ids[k] left at times[k], k < count. */
  stamps(channel: number, ids: Float64Array, times: Float64Array, count: number): void {
    const c = this.channel(channel);
    for (let k = 0; k < count; k++) {
      const id = ids[k]! >>> 0;
      const time = times[k]!;
      const slot = id & (RECENT - 1);
      c.ids[slot] = id;
      c.times[slot] = time;
      const waiter = c.waiting.get(id);
      if (waiter === undefined) continue;
      c.waiting.delete(id);
      this.log.kernelTime(waiter.batch, waiter.first, waiter.last, time);
    }
  }

  private channel(channel: number): ChannelStamps {
    let c = this.channels.get(channel);
    if (!c) {
      c = new ChannelStamps();
      this.channels.set(channel, c);
    }
    return c;
  }

  private expectId(c: ChannelStamps, id: number, waiter: Waiter): void {
    const slot = id & (RECENT - 1);
    if (c.ids[slot] === id && this.log.kernelTime(waiter.batch, waiter.first, waiter.last, c.times[slot]!))
      return;
    c.waiting.delete(id);
    c.waiting.set(id, waiter);
    if (c.waiting.size > MAX_WAITING) {
      // A driver that timestamps nothing, or frames that never left: those batches keep their own times.
      const oldest = c.waiting.keys().next().value as number;
      c.waiting.delete(oldest);
    }
  }
}
