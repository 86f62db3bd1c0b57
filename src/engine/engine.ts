import { PermutedOrder, type ProbeOrder, RoundOrder, SequentialOrder } from "./order";
import { Pacer } from "./pacer";
import { type LoggedBatch, SendLog, TxStamps } from "./send-log";
import { nextTurn, sleep } from "./time";
import { TargetTimeouts } from "./timeouts";

// The one send/receive loop under every probe. A probe module says what is its own: how many targets and
// probes per target (slots), which channel (interface + sockets) a target's probes go out of, how to put a
// batch of slots on the wire, and what an unanswered slot means; its receive handler validates answers
// statelessly and tells the engine which slot was answered. The engine owns everything else, once: the order,
// pacing, passes and retries, the send log (an answer's round-trip time), per-target timeouts, the final wait,
// abort, and closing nothing until the sends on worker threads have finished.

/** One batch of slots that all go out of one channel. */
export interface SendBatch {
  /** the module's channel number (>= 1) */
  readonly channel: number;
  /** the slots, in send order; only the first `count` entries are this batch's */
  readonly slots: Int32Array;
  readonly count: number;
  /** 0 for the first attempt, then 1, 2, ... (for "rounds": the round number) */
  readonly pass: number;
  /**
   * Set by the module's send() when the socket has kernel send timestamps and the TX id of the batch's first
   * frame is known before the send completes (sendFramesAsync returns it): answers that beat the send's
   * completion then already get kernel times. See Engine.txTimestamps.
   */
  firstTxId?: number;
}

export interface SendResult {
  /** how many of the batch went out (the first `sent` slots) */
  sent: number;
  /** when the first and the last of them went out, ms on the monotonic clock */
  startMs: number;
  endMs: number;
  /** the TX id of the first frame that went out, when the socket has kernel send timestamps */
  firstTxId?: number;
}

export interface ProbeModule {
  /** number of targets; slots are target * items + item */
  readonly targets: number;
  /** probes per target (ports, echo sequence numbers, 1 for ARP) */
  readonly items: number;
  /**
   * The channel (>= 1) a target's probes go out of, or 0 when the target gets no probe (the module gives it
   * its record itself: a local address, no route, a silent next hop). Asked once per target, in send order.
   */
  channelOf(target: number): number;
  /** Puts a batch on the wire; may resolve later (a worker thread). `batch.slots` is reused after the call. */
  send(batch: SendBatch): SendResult | Promise<SendResult>;
  /** A slot of a probed target got no answer after its last attempt and its wait. */
  unanswered(slot: number): void;
}

export interface EngineOptions {
  /**
   * permuted: a keyed random order over every slot (scans). sequential: target after target (ARP).
   * rounds: item after item over every target, each slot sent once (ping's sequence numbers).
   */
  order: "permuted" | "sequential" | "rounds";
  /** extra passes over the unanswered slots (ignored for rounds) */
  retries: number;
  /** packets per second, 0 = unlimited */
  rate: number;
  /** slots per send call */
  batch: number;
  /** sends under way at once (a worker thread each); the next batch is built meanwhile */
  inFlight?: number;
  /**
   * the longest a probe waits for its answer, ms (the user's --timeout). Each target's own wait adapts to its
   * round trips below that, as nmap's does (see TargetTimeouts), unless `fixedTimeout`.
   */
  timeoutMs: number;
  /** every probe waits exactly timeoutMs (ping -W) */
  fixedTimeout?: boolean;
  /** rounds: the least time from the start of one round to the start of the next */
  roundGapMs?: number;
  signal?: AbortSignal;
  /** resolves when the reader has room for more records (backpressure) */
  room?: () => Promise<void>;
  /** the monotonic clock, ms (the addon's, which kernel timestamps are on) */
  now: () => number;
}

/** What the engine counted, for the summary. */
export interface EngineCounters {
  /** probes handed to the kernel, retries included */
  sent: number;
  /** probes sent again because an earlier attempt got no answer */
  retransmissions: number;
  /** slots answered (the first answer of each) */
  answered: number;
  /** live slots: slots of targets that got a channel */
  live: number;
}

const NO_CHANNEL = 0;
/** consecutive sends the interface refuses before the run gives up (about 5 s of 1 ms pauses) */
const MAX_STALLS = 5000;
/** target not classified yet (channelOf not asked) */
const UNSEEN = -1;

export class Engine {
  readonly counters: EngineCounters = { sent: 0, retransmissions: 0, answered: 0, live: 0 };
  readonly timeouts: TargetTimeouts;
  private readonly order: ProbeOrder;
  private readonly answeredBits: Uint8Array;
  /** unanswered slots per target; UNSEEN before the target was classified */
  private readonly outstanding: Int32Array;
  private readonly channels: Uint8Array;
  /** when each target's latest probe was handed to the kernel (monotonic ms) */
  private readonly lastSent: Float64Array;
  /** the pass (or round) being sent or waited for */
  private pass = 0;
  private readonly sendLog = new SendLog();
  private readonly txStamps = new TxStamps(this.sendLog);
  private readonly slots: Int32Array;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;
  private outstandingTotal = 0;
  private started = false;

  constructor(
    private readonly module: ProbeModule,
    private readonly options: EngineOptions,
  ) {
    const size = module.targets * module.items;
    this.order =
      options.order === "permuted"
        ? new PermutedOrder(size)
        : options.order === "rounds"
          ? new RoundOrder(module.targets, module.items)
          : new SequentialOrder(size);
    this.answeredBits = new Uint8Array(Math.ceil(size / 8));
    this.outstanding = new Int32Array(module.targets).fill(UNSEEN);
    this.channels = new Uint8Array(module.targets);
    this.slots = new Int32Array(options.batch);
    this.lastSent = new Float64Array(module.targets);
    this.timeouts = new TargetTimeouts(module.targets, options.timeoutMs, options.fixedTimeout ?? false);
  }

  /** Whether a slot has had its answer. */
  isAnswered(slot: number): boolean {
    return (this.answeredBits[slot >>> 3]! & (1 << (slot & 7))) !== 0;
  }

  /**
   * An answer for `slot` arrived at `atMs` (the kernel's receive timestamp). Returns the round-trip time in
   * ms (NaN when the send time is not known), or -1 when the slot was answered already (a duplicate).
   */
  answer(slot: number, atMs: number): number {
    if (this.isAnswered(slot)) return -1;
    this.answeredBits[slot >>> 3]! |= 1 << (slot & 7);
    this.counters.answered++;
    const target = Math.floor(slot / this.module.items);
    if (this.outstanding[target]! > 0) {
      this.outstanding[target]!--;
      this.outstandingTotal--;
    }
    const position = this.order.positionOf(slot);
    const sentAt = this.sendLog.sentAt(position);
    if (Number.isNaN(sentAt)) return Number.NaN;
    const rtt = Math.max(0, atMs - sentAt);
    // Only a probe sent once tells its round trip (Karn): a retransmitted one may be answering the first.
    const sentOnce =
      this.options.order === "rounds" || (this.sendLog.reached(position) ? this.pass === 0 : this.pass === 1);
    if (sentOnce) this.timeouts.sample(target, rtt);
    return rtt;
  }

  /**
   * Kernel send timestamps of `channel`'s socket (what its TX timestamp callback got): packet ids[k] left at
   * times[k], k < count. A batch whose first and last frame have theirs is timed by them instead of by its
   * dispatch and the end of its send call; a one-frame batch gets its exact time. Channels without them keep
   * those. The module passes them on before the answers read after them.
   */
  txTimestamps(channel: number, ids: Float64Array, times: Float64Array, count: number): void {
    this.txStamps.stamps(channel, ids, times, count);
  }

  /** Ends the run with an error (a receive failure on one of the module's sockets). */
  fail(error: unknown): void {
    this.failure ??= error;
  }

  /**
   * Sends every pass and waits for the answers. Resolves true when the run completed, false when it was
   * aborted; rejects with a send or receive failure. Whatever happens, no send is still under way when it
   * settles, so the module may close its sockets then.
   */
  async run(): Promise<boolean> {
    if (this.started) throw new Error("an engine runs once");
    this.started = true;
    try {
      const completed = await this.passes();
      this.throwIfFailed();
      if (completed) await this.reportUnanswered();
      return completed && !this.aborted();
    } finally {
      while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    }
  }

  private aborted(): boolean {
    return this.options.signal?.aborted === true;
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  private async passes(): Promise<boolean> {
    const pacer = new Pacer(this.options.rate);
    if (this.options.order === "rounds") {
      const order = this.order as RoundOrder;
      for (let round = 0; round < this.module.items; round++) {
        this.pass = round;
        const roundStarted = this.options.now();
        const last = round === this.module.items - 1;
        if (!(await this.sendRange(order.roundStart(round), order.roundStart(round + 1), round, pacer)))
          return false;
        if (!last && !(await this.waitUntil(roundStarted + (this.options.roundGapMs ?? 0)))) return false;
      }
      return this.waitForAnswers();
    }
    for (let pass = 0; pass <= this.options.retries; pass++) {
      if (pass > 0) {
        if (this.outstandingTotal === 0) break;
        this.sendLog.newPass();
      }
      this.pass = pass;
      if (!(await this.sendRange(0, this.order.domain, pass, pacer))) return false;
      if (!(await this.waitForAnswers())) return false;
    }
    return true;
  }

  /** Sends the unanswered live slots at positions [from, to); false when aborted. */
  private async sendRange(from: number, to: number, pass: number, pacer: Pacer): Promise<boolean> {
    const { module, order, options, slots } = this;
    const items = module.items;
    const retry = pass > 0 && options.order !== "rounds";
    let position = from;
    let stalls = 0;
    while (position < to) {
      if (this.aborted()) return false;
      this.throwIfFailed();
      if (options.room) await options.room();
      const allowed = pacer.allowance(slots.length);
      if (allowed === 0) {
        await sleep(pacer.waitMs());
        continue;
      }
      const first = position;
      let count = 0;
      let channel = NO_CHANNEL;
      while (position < to && count < allowed) {
        const slot = order.at(position);
        if (slot < 0) {
          position++;
          continue;
        }
        const target = Math.floor(slot / items);
        const c = this.channelFor(target);
        if (c === NO_CHANNEL || (retry && this.isAnswered(slot))) {
          position++;
          continue;
        }
        // One channel per batch: a probe's place in the batch is its place among the frames sent, which the
        // send log interpolates send times by.
        if (channel !== NO_CHANNEL && c !== channel) break;
        channel = c;
        slots[count++] = slot;
        position++;
      }
      if (count === 0) continue;
      const at = options.now();
      for (let k = 0; k < count; k++) this.lastSent[Math.floor(slots[k]! / items)] = at;
      const logged = this.sendLog.record(first, position, at);
      const batch: SendBatch = { channel, slots, count, pass };
      const sent = await this.dispatch(batch, logged);
      pacer.take(sent);
      this.counters.sent += sent;
      if (retry) this.counters.retransmissions += sent;
      if (sent < count) {
        // The interface queue is full: the rest goes again from the first slot that did not go out.
        if (++stalls > MAX_STALLS) throw new Error("the interface queue stays full");
        position = order.positionOf(slots[sent]!);
        await sleep(1);
        continue;
      }
      stalls = 0;
      await nextTurn();
    }
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    this.throwIfFailed();
    return true;
  }

  private channelFor(target: number): number {
    if (this.outstanding[target] !== UNSEEN) return this.channels[target]!;
    const c = this.module.channelOf(target);
    if (!Number.isInteger(c) || c < 0 || c > 255)
      throw new RangeError(`bad channel ${c} for target ${target}`);
    this.channels[target] = c;
    const live = c === NO_CHANNEL ? 0 : this.module.items;
    this.outstanding[target] = live;
    this.outstandingTotal += live;
    this.counters.live += live;
    return c;
  }

  /**
   * Hands a batch to the module and returns how many went out. With one send in flight (the default) a send
   * that completes later is awaited, so a full interface queue is retried. With more, the next batch is built
   * while the kernel sends: the batch counts as sent now, and a shortfall fails the run.
   */
  private async dispatch(batch: SendBatch, logged: LoggedBatch): Promise<number> {
    const limit = this.options.inFlight ?? 1;
    while (this.inFlight.size >= limit) await Promise.race(this.inFlight);
    const pending = this.module.send(batch);
    if (batch.firstTxId !== undefined)
      this.txStamps.expect(batch.channel, logged, batch.firstTxId, batch.count);
    if (!(pending instanceof Promise) || limit === 1) {
      const result = await pending;
      this.settled(batch, logged, result);
      return result.sent;
    }
    const result = pending;
    const sending: Promise<void> = result.then(
      (r) => {
        this.inFlight.delete(sending);
        this.settled(batch, logged, r);
        if (r.sent < batch.count) this.fail(new Error("the interface queue stays full"));
      },
      (err: unknown) => {
        this.inFlight.delete(sending);
        this.fail(err);
      },
    );
    this.inFlight.add(sending);
    return batch.count;
  }

  private settled(batch: SendBatch, logged: LoggedBatch, r: SendResult): void {
    this.sendLog.finished(logged, r.endMs);
    if (r.firstTxId === undefined || (r.firstTxId === batch.firstTxId && r.sent === batch.count)) return;
    // The ids known at dispatch were not the ones the frames got (or not all went): time it by the real ones.
    if (batch.firstTxId !== undefined)
      this.txStamps.forget(batch.channel, logged, batch.firstTxId, batch.count);
    this.txStamps.expect(batch.channel, logged, r.firstTxId, r.sent);
  }

  /**
   * Waits until every outstanding slot is past its own deadline (its target's timeout after the last send),
   * or all are answered. Targets that answer meanwhile shorten the wait; false when aborted.
   */
  private async waitForAnswers(): Promise<boolean> {
    let waiting = this.targetsWaiting();
    for (;;) {
      if (this.aborted()) return false;
      this.throwIfFailed();
      if (this.outstandingTotal === 0) return true;
      // A target's earlier probes in the pass went out before its last one, so its last send plus its own
      // timeout covers them all; timeouts shrink as answers come, so this is worked out again on each wake-up.
      let deadline = 0;
      let kept = 0;
      for (let k = 0; k < waiting.length; k++) {
        const t = waiting[k]!;
        if (this.outstanding[t]! <= 0) continue;
        waiting[kept++] = t;
        const d = this.lastSent[t]! + this.timeouts.timeoutOf(t);
        if (d > deadline) deadline = d;
      }
      waiting = waiting.subarray(0, kept);
      const now = this.options.now();
      if (kept === 0 || now >= deadline) return true;
      await sleep(Math.max(1, Math.min(20, deadline - now)));
    }
  }

  private targetsWaiting(): Int32Array {
    const list = new Int32Array(this.module.targets);
    let n = 0;
    for (let t = 0; t < this.module.targets; t++) if (this.outstanding[t]! > 0) list[n++] = t;
    return list.subarray(0, n);
  }

  private async waitUntil(deadline: number): Promise<boolean> {
    for (;;) {
      if (this.aborted()) return false;
      this.throwIfFailed();
      const now = this.options.now();
      if (now >= deadline) return true;
      await sleep(Math.max(1, Math.min(20, deadline - now)));
    }
  }

  private async reportUnanswered(): Promise<void> {
    const { module } = this;
    const items = module.items;
    let reported = 0;
    for (let t = 0; t < module.targets; t++) {
      if (this.outstanding[t]! <= 0) continue;
      for (let i = 0; i < items; i++) {
        const slot = t * items + i;
        if (this.isAnswered(slot)) continue;
        module.unanswered(slot);
        if (++reported % 1024 === 0 && this.options.room) await this.options.room();
      }
    }
  }
}
