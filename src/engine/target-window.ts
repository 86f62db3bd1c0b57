import type { TargetTimeouts } from "./timeouts";

// A window per target: at most `limit` of a target's probes outstanding at once (sent, neither answered nor
// past its timeout), as a DNS client keeps a few queries in flight per server instead of flooding one. A
// target whose window is full has its next slots held, in order, while the engine goes on with the other
// targets; they go out as answers or timeouts make room. Slots then leave in another order than the probe
// order's, so the send log (one entry per batch of consecutive positions) cannot date them: each slot keeps
// its own latest send time and send count here, which is why the windows are an option, for probes with
// modest numbers of slots (a DNS run), not for sweeps.

/** A first-in first-out list of slots, grown as needed. */
class SlotQueue {
  private items: number[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(slot: number): void {
    this.items.push(slot);
  }

  peek(): number {
    return this.items[this.head]!;
  }

  shift(): number {
    const slot = this.items[this.head++]!;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return slot;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class TargetWindows {
  /** per target: its window size (0 until the target is classified) */
  private readonly limits: Int32Array;
  /** per target: probes in its window */
  private readonly open: Int32Array;
  /** per target: its window's slots in send order; answered ones leave lazily (their bit is cleared) */
  private readonly sentOrder: Array<SlotQueue | undefined>;
  /** per target: slots held back until its window has room */
  private readonly held: Array<SlotQueue | undefined>;
  /** targets that may have held slots, in the order they first had one */
  private heldTargets: number[] = [];
  private heldTotal = 0;
  /** bit per slot: in its target's window */
  private readonly inWindow: Uint8Array;
  /** per slot: when it was last handed to the send call, monotonic ms */
  private readonly sentAt: Float64Array;
  /** per slot: how many times it was sent (saturates at 255) */
  private readonly sends: Uint8Array;
  /** called when a target with held slots gets room because one of its probes was answered */
  onRoom: (() => void) | null = null;

  constructor(
    targets: number,
    size: number,
    private readonly items: number,
    private readonly timeouts: TargetTimeouts,
  ) {
    this.limits = new Int32Array(targets);
    this.open = new Int32Array(targets);
    this.sentOrder = new Array<SlotQueue | undefined>(targets);
    this.held = new Array<SlotQueue | undefined>(targets);
    this.inWindow = new Uint8Array(Math.ceil(size / 8));
    this.sentAt = new Float64Array(size);
    this.sends = new Uint8Array(size);
  }

  setLimit(target: number, limit: number): void {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`bad maxOutstandingPerTarget ${limit} for target ${target}`);
    this.limits[target] = limit;
  }

  /** Whether slots are held back (sent later, when their targets have room). */
  get holding(): boolean {
    return this.heldTotal > 0;
  }

  /** Whether `target` may have another probe outstanding at `now` (timed-out probes leave its window). */
  hasRoom(target: number, now: number): boolean {
    if (this.open[target]! < this.limits[target]!) return true;
    const order = this.sentOrder[target]!;
    const timeout = this.timeouts.timeoutOf(target);
    while (order.length > 0) {
      const slot = order.peek();
      if (this.isIn(slot)) {
        if (this.sentAt[slot]! + timeout > now) break;
        this.take(slot);
      }
      order.shift();
    }
    return this.open[target]! < this.limits[target]!;
  }

  /** Whether `target` has slots held back: its next slots must queue behind them to keep their order. */
  isHolding(target: number): boolean {
    return (this.held[target]?.length ?? 0) > 0;
  }

  hold(target: number, slot: number): void {
    let queue = this.held[target];
    if (queue === undefined) {
      queue = new SlotQueue();
      this.held[target] = queue;
    }
    if (queue.length === 0) this.heldTargets.push(target);
    queue.push(slot);
    this.heldTotal++;
  }

  /**
   * Takes held slots of targets that have room at `now`, in their order, into `out` from `count` on, up to
   * `max`. `accept(target)`, asked of a target that has room and a slot to send, says whether its slots may
   * join this batch (one channel per batch).
   * Slots `skip` rejects are dropped (answered or settled meanwhile). Returns the new count.
   */
  takeHeld(
    now: number,
    out: Int32Array,
    count: number,
    max: number,
    accept: (target: number) => boolean,
    skip: (slot: number) => boolean,
  ): number {
    let kept = 0;
    const targets = this.heldTargets;
    for (let k = 0; k < targets.length; k++) {
      const t = targets[k]!;
      const queue = this.held[t]!;
      while (queue.length > 0 && skip(queue.peek())) {
        queue.shift();
        this.heldTotal--;
      }
      if (queue.length > 0 && count < max && this.hasRoom(t, now) && accept(t)) {
        while (queue.length > 0 && count < max) {
          if (skip(queue.peek())) {
            queue.shift();
            this.heldTotal--;
            continue;
          }
          if (!this.hasRoom(t, now)) break;
          const slot = queue.shift();
          this.heldTotal--;
          this.enter(t, slot, now);
          out[count++] = slot;
        }
      }
      if (queue.length > 0) targets[kept++] = t;
    }
    targets.length = kept;
    // Next time start after the targets served now, so one target's backlog does not always go first.
    if (kept > 1) this.heldTargets = [...targets.slice(1), targets[0]!];
    return count;
  }

  /** A slot goes out now: it takes a place in its target's window. */
  enter(target: number, slot: number, now: number): void {
    let order = this.sentOrder[target];
    if (order === undefined) {
      order = new SlotQueue();
      this.sentOrder[target] = order;
    }
    if (!this.isIn(slot)) {
      this.inWindow[slot >>> 3]! |= 1 << (slot & 7);
      this.open[target]!++;
    }
    order.push(slot);
    this.sentAt[slot] = now;
    if (this.sends[slot]! < 255) this.sends[slot]!++;
  }

  /** A slot was reserved by enter() but did not go out (a full interface queue): it goes again later. */
  notSent(slot: number): void {
    if (this.sends[slot]! > 0) this.sends[slot]!--;
  }

  /** A slot was answered or settled: it leaves its window. */
  leave(slot: number): void {
    if (!this.isIn(slot)) return;
    this.take(slot);
    const target = Math.floor(slot / this.items);
    if (this.onRoom !== null && this.isHolding(target)) this.onRoom();
  }

  /** When the slot last went out (NaN if never), and whether it went out exactly once (Karn's rule). */
  sentTime(slot: number): number {
    return this.sends[slot]! > 0 ? this.sentAt[slot]! : Number.NaN;
  }

  sentOnce(slot: number): boolean {
    return this.sends[slot] === 1;
  }

  /**
   * The earliest moment a target with held slots gets room by a timeout (Infinity if none is full), so a
   * wait for room never outlasts it.
   */
  nextRoom(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const t of this.heldTargets) {
      if (this.hasRoom(t, now)) return now;
      const order = this.sentOrder[t]!;
      // hasRoom left a live slot at the head: the oldest send of the window.
      const at = this.sentAt[order.peek()]! + this.timeouts.timeoutOf(t);
      if (at < next) next = at;
    }
    return next;
  }

  /** A new pass: every probe of the last one is answered or past its timeout, so every window is empty. */
  newPass(): void {
    this.open.fill(0);
    this.inWindow.fill(0);
    for (const order of this.sentOrder) order?.clear();
  }

  private isIn(slot: number): boolean {
    return (this.inWindow[slot >>> 3]! & (1 << (slot & 7))) !== 0;
  }

  private take(slot: number): void {
    this.inWindow[slot >>> 3]! &= ~(1 << (slot & 7));
    this.open[Math.floor(slot / this.items)]!--;
  }
}
