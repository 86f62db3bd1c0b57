import { EnvironmentError, environmentErrorFrom, UsageError } from "../errors";
import { Congestion, type CongestionOptions } from "./congestion";
import { PermutedOrder, type ProbeOrder, RoundOrder, SequentialOrder } from "./order";
import { Pacer } from "./pacer";
import { type LoggedBatch, SendLog, TxStamps } from "./send-log";
import { ShardOrder } from "./shard";
import { TargetWindows } from "./target-window";
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
   * completion then already get kernel times. See Engine.txTimestamps. NaN (what the addon says for a socket
   * whose timestamps the kernel refused) is as if unset.
   */
  firstTxId?: number;
}

export interface SendResult {
  /** how many of the batch went out (the first `sent` slots) */
  sent: number;
  /**
   * how many slots after the sent ones the kernel refused for good (no route, a blackhole): they are not sent
   * again in this pass and not counted as sent; the module settles them (engine.answer) or they end up
   * unanswered. Default 0: a short send means a full interface queue, and the rest goes again.
   */
  refused?: number;
  /** when the first and the last of them went out, ms on the monotonic clock */
  startMs: number;
  endMs: number;
  /** the TX id of the first frame that went out, when the socket has kernel send timestamps (else NaN or unset) */
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
  /**
   * With `maxOutstanding`: an attempt of the slot went past its timeout without an answer (it may be sent
   * again in a later pass). A probe that holds something per attempt (a connection) releases it here.
   */
  expired?(slot: number): void;
}

export interface EngineOptions {
  /**
   * permuted: a keyed random order over every slot (scans). sequential: target after target (ARP).
   * rounds: item after item over every target, each slot sent once (ping's sequence numbers).
   */
  order: "permuted" | "sequential" | "rounds";
  /**
   * with order "permuted": the order to use instead of a fresh random one: a keyed one (a seed), or one
   * shard's part of it (ShardOrder), whose other slots are neither sent nor waited for nor reported
   */
  permutation?: ProbeOrder;
  /** extra passes over the unanswered slots (ignored for rounds) */
  retries: number;
  /**
   * asked before each pass after the `retries` ones (with its number, retries + 1 on): whether another goes.
   * A module whose peers still answer more each pass (a rate-limited ICMP error) keeps them going; it sets
   * its own limit. Unset: `retries` is the end.
   */
  morePasses?: (pass: number) => boolean;
  /**
   * called before each retry pass goes (pass >= 1), and awaited: the module may settle slots it gives up
   * on (engine.settle, making their records itself), as nmap stops retransmitting to a host whose answers
   * never needed a retry. The pass then sends only what is left.
   */
  beforePass?: (pass: number) => void | Promise<void>;
  /** packets per second, 0 = unlimited */
  rate: number;
  /** slots per send call */
  batch: number;
  /** sends under way at once (a worker thread each); the next batch is built meanwhile */
  inFlight?: number;
  /**
   * at most this many slots waiting at once (sent, neither answered nor past their timeout): nothing more is
   * sent until one is answered or times out (a connect scan's open connections). Default: no limit.
   */
  maxOutstanding?: number;
  /**
   * a congestion window instead of a fixed one: the slots waiting at once grow with answers and shrink on
   * loss (see Congestion); `rate` stays the ceiling. Not with maxOutstanding or maxOutstandingPerTarget.
   */
  congestion?: CongestionOptions;
  /** with `congestion`: probes per second that go even when the window is full (a silent range) */
  minRate?: number;
  /**
   * the longest a probe waits for its answer, ms (the user's --timeout). Each target's own wait adapts to its
   * round trips below that, as nmap's does (see TargetTimeouts), unless `fixedTimeout`.
   */
  timeoutMs: number;
  /** every probe waits exactly timeoutMs (ping -W) */
  fixedTimeout?: boolean;
  /**
   * retry passes wait longer: pass p waits the target's timeout x factor^p, at most maxMs (never less than
   * the timeout). A peer that rate-limits its answers (a kernel's ICMP port unreachables) answers a few more
   * each pass, and more the longer each pass waits. Default: every pass waits the timeout.
   */
  retryBackoff?: { factor: number; maxMs: number };
  /** rounds: the least time from the start of one round to the start of the next */
  roundGapMs?: number;
  /**
   * the run ends no sooner than this long after the latest first answer, so a second answerer's reply (an
   * ARP address conflict) is still seen when every slot is answered; default 0
   */
  lingerMs?: number;
  signal?: AbortSignal;
  /**
   * At most this many of a target's probes outstanding at once (sent, neither answered nor past their
   * timeout); a number for every target, or each target's own (asked once per target, after channelOf).
   * A full target's further slots are held back, in order, while the other targets go on (see
   * TargetWindows). Unset: no per-target limit.
   */
  maxOutstandingPerTarget?: number | ((target: number) => number);
  /** resolves when the reader has room for more records (backpressure) */
  room?: () => Promise<void>;
  /** the monotonic clock, ms (the addon's, which kernel timestamps are on) */
  now: () => number;
}

/** Where a run is: sending a pass (or round), waiting for its answers, or settled. */
export type EngineStage = "idle" | "sending" | "waiting" | "done";

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
  /** when the latest first answer arrived (its timestamp), -Infinity before any */
  private lastAnswerMs = Number.NEGATIVE_INFINITY;
  private started = false;
  /** per-target windows (maxOutstandingPerTarget), null without */
  private readonly windows: TargetWindows | null;
  /** windows: slots of a short send that did not go out; they keep their places and go first */
  private carried: number[] = [];
  private stageNow: EngineStage = "idle";
  /** the congestion window (option congestion), null without */
  readonly congestion: Congestion | null;
  /** the floor rate that goes when the congestion window is full, null without */
  private readonly floor: Pacer | null;
  /** maxOutstanding: the attempts waiting (slot, when it went), unordered */
  private readonly windowSlots: Int32Array | null;
  private readonly windowSent: Float64Array;
  private windowCount = 0;
  /** ends a pause for room in the window early when an answer arrives */
  private wake: (() => void) | null = null;
  /** answers still to come before `wake` is called */
  private wakeAfter = 0;
  /** ends the final wait's pause at once when the last outstanding slot is settled */
  private wakeAllDone: (() => void) | null = null;
  /** a shard's run: the slots of other shards are marked done from the start (see markOtherShards) */
  private readonly sharded: boolean;

  constructor(
    private readonly module: ProbeModule,
    private readonly options: EngineOptions,
  ) {
    const size = module.targets * module.items;
    this.order =
      options.order === "permuted"
        ? (options.permutation ?? new PermutedOrder(size))
        : options.order === "rounds"
          ? new RoundOrder(module.targets, module.items)
          : new SequentialOrder(size);
    this.answeredBits = new Uint8Array(Math.ceil(size / 8));
    this.sharded = this.order instanceof ShardOrder;
    if (this.sharded) this.markOtherShards();
    this.outstanding = new Int32Array(module.targets).fill(UNSEEN);
    this.channels = new Uint8Array(module.targets);
    this.slots = new Int32Array(options.batch);
    this.lastSent = new Float64Array(module.targets);
    this.timeouts = new TargetTimeouts(module.targets, options.timeoutMs, options.fixedTimeout ?? false);
    this.windows =
      options.maxOutstandingPerTarget === undefined
        ? null
        : new TargetWindows(module.targets, size, module.items, this.timeouts);
    const windowOptions = [options.maxOutstanding, options.maxOutstandingPerTarget, options.congestion];
    if (windowOptions.filter((o) => o !== undefined).length > 1)
      throw new RangeError("maxOutstanding, maxOutstandingPerTarget and congestion are one or the other");
    this.congestion = options.congestion ? new Congestion(options.congestion) : null;
    this.floor = options.congestion && (options.minRate ?? 0) > 0 ? new Pacer(options.minRate!) : null;
    const window = options.congestion ? options.congestion.maxWindow : (options.maxOutstanding ?? 0);
    if (!Number.isInteger(window) || window < 0) throw new RangeError(`bad maxOutstanding ${window}`);
    this.windowSlots = window > 0 ? new Int32Array(window) : null;
    this.windowSent = new Float64Array(window);
  }

  /**
   * A shard's slots are the order's; every other slot is marked done before the run, so the rest of the
   * engine needs no shard test: such a slot is never sent or retried, never outstanding, never reported
   * unanswered, and an answer or a settle for it is refused as a duplicate's. One walk over the share.
   */
  private markOtherShards(): void {
    const bits = this.answeredBits;
    bits.fill(0xff);
    const order = this.order;
    for (let p = 0; p < order.domain; p++) {
      const slot = order.at(p);
      if (slot >= 0) bits[slot >>> 3]! &= ~(1 << (slot & 7));
    }
  }

  /** Where the run is (for a progress display). */
  get stage(): EngineStage {
    return this.stageNow;
  }

  /** Whether a slot has had its answer (or, once reported unanswered, its verdict). */
  isAnswered(slot: number): boolean {
    return (this.answeredBits[slot >>> 3]! & (1 << (slot & 7))) !== 0;
  }

  /**
   * An answer for `slot` arrived at `atMs` (the kernel's receive timestamp). Returns the round-trip time in
   * ms (NaN when the send time is not known), or -1 when the slot was answered already (a duplicate).
   */
  answer(slot: number, atMs: number): number {
    if (this.isAnswered(slot)) return -1;
    this.markDone(slot);
    this.counters.answered++;
    if (atMs > this.lastAnswerMs) this.lastAnswerMs = atMs;
    const target = Math.floor(slot / this.module.items);
    if (this.windows !== null) {
      const rtt = Math.max(0, atMs - this.windows.sentTime(slot));
      if (this.windows.sentOnce(slot) && !Number.isNaN(rtt)) this.timeouts.sample(target, rtt);
      return rtt;
    }
    const position = this.order.positionOf(slot);
    const sentAt = this.sendLog.sentAt(position);
    if (Number.isNaN(sentAt)) return Number.NaN;
    const rtt = Math.max(0, atMs - sentAt);
    // Only a probe sent once tells its round trip (Karn): a retransmitted one may be answering the first.
    const sentOnce =
      this.options.order === "rounds" || (this.sendLog.reached(position) ? this.pass === 0 : this.pass === 1);
    if (sentOnce) this.timeouts.sample(target, rtt);
    this.congestion?.answered(!sentOnce, atMs, this.windowCount);
    return rtt;
  }

  /**
   * The module settled `slot` without an answer (its send was refused here, or an error about its target
   * decided it): it is not sent again, not waited for, not reported unanswered, and not counted answered.
   * Returns false when the slot was answered or settled already.
   */
  settle(slot: number): boolean {
    if (this.isAnswered(slot)) return false;
    this.markDone(slot);
    return true;
  }

  private markDone(slot: number): void {
    this.answeredBits[slot >>> 3]! |= 1 << (slot & 7);
    // A sender paused for room in the window goes on at once.
    if (this.wake !== null && --this.wakeAfter <= 0) {
      const wake = this.wake;
      this.wake = null;
      wake();
    }
    const target = Math.floor(slot / this.module.items);
    if (this.outstanding[target]! > 0) {
      this.outstanding[target]!--;
      // The last answer ends the wait for answers now, not at the end of its pause (up to 20 ms).
      if (--this.outstandingTotal === 0 && this.wakeAllDone !== null) {
        const wake = this.wakeAllDone;
        this.wakeAllDone = null;
        wake();
      }
    }
    this.windows?.leave(slot);
  }

  /**
   * When the slot's latest probe went out, ms, as the send log knows it now (NaN when unknown). An answer can
   * come in before a send on a worker thread has reported its times: a module that holds its record for a
   * while (ARP) can ask again then.
   */
  sentAt(slot: number): number {
    return this.sendLog.sentAt(this.order.positionOf(slot));
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
    this.failure ??= asNetworkFailure(error, "receiving");
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
      let completed = await this.passes();
      if (completed) completed = await this.linger();
      this.throwIfFailed();
      if (completed) await this.reportUnanswered();
      return completed && !this.aborted();
    } finally {
      while (this.inFlight.size > 0) await Promise.race(this.inFlight);
      this.stageNow = "done";
    }
  }

  private aborted(): boolean {
    return this.options.signal?.aborted === true;
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  private linger(): Promise<boolean> {
    const ms = this.options.lingerMs ?? 0;
    if (!(ms > 0) || this.lastAnswerMs === Number.NEGATIVE_INFINITY) return Promise.resolve(true);
    return this.waitUntil(this.lastAnswerMs + ms);
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
    for (let pass = 0; ; pass++) {
      if (pass > this.options.retries && !(this.options.morePasses?.(pass) ?? false)) break;
      if (pass > 0) {
        if (this.outstandingTotal > 0 && this.options.beforePass) await this.options.beforePass(pass);
        if (this.outstandingTotal === 0) break;
        this.sendLog.newPass();
        this.windows?.newPass();
      }
      this.pass = pass;
      if (!(await this.sendRange(0, this.order.domain, pass, pacer))) return false;
      if (!(await this.waitForAnswers())) return false;
    }
    return true;
  }

  /** Sends the unanswered live slots at positions [from, to); false when aborted. */
  private async sendRange(from: number, to: number, pass: number, pacer: Pacer): Promise<boolean> {
    if (this.windows !== null) return this.sendRangeWindowed(from, to, pass, pacer, this.windows);
    const { module, order, options, slots } = this;
    const items = module.items;
    const retry = pass > 0 && options.order !== "rounds";
    let position = from;
    let stalls = 0;
    this.stageNow = "sending";
    while (position < to) {
      if (this.aborted()) return false;
      this.throwIfFailed();
      if (options.room) await options.room();
      let room = this.windowRoom();
      // A full congestion window still lets the floor rate through: a silent range must not stall.
      if (room === 0 && this.floor)
        room = this.floor.allowance(Math.min(slots.length, this.windowSlots!.length - this.windowCount));
      // Wait for room for a good part of the window rather than send a probe per answer: each turn of this
      // loop costs more than a probe, and a window refilled one by one would be held to the loop's pace.
      const worth = Math.min(slots.length, Math.max(1, Math.floor(this.windowLimit() / 4)));
      if (room === 0 || (room < worth && this.windowCount > 0)) {
        await this.pauseForWindow(worth - room);
        continue;
      }
      const allowed = pacer.allowance(Math.min(slots.length, room));
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
      const { sent, refused } = await this.dispatch(batch, logged);
      pacer.take(sent);
      this.floor?.take(sent);
      this.enterWindow(slots, sent, at);
      this.counters.sent += sent;
      if (retry) this.counters.retransmissions += sent;
      if (sent + refused < count) {
        // The interface queue is full: the rest goes again from the first slot that did not go out.
        if (++stalls > MAX_STALLS) throw queueFull();
        this.congestion?.loss(options.now(), this.windowCount);
        position = order.positionOf(slots[sent + refused]!);
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

  /**
   * sendRange with per-target windows: a slot whose target has no room is held (behind the slots the target
   * holds already, so each target's slots keep their order) and goes out once the target has room, while
   * the other targets go on. The range is sent when every position was visited and nothing is held.
   */
  private async sendRangeWindowed(
    from: number,
    to: number,
    pass: number,
    pacer: Pacer,
    windows: TargetWindows,
  ): Promise<boolean> {
    const { module, order, options, slots } = this;
    const items = module.items;
    const retry = pass > 0 && options.order !== "rounds";
    const done = (slot: number) => this.isAnswered(slot);
    let position = from;
    let stalls = 0;
    for (;;) {
      if (this.aborted()) return false;
      this.throwIfFailed();
      if (options.room) await options.room();
      const allowed = pacer.allowance(slots.length);
      if (allowed === 0) {
        await sleep(pacer.waitMs());
        continue;
      }
      const now = options.now();
      let count = 0;
      let channel = NO_CHANNEL;
      // Slots a short send left behind kept their places in their windows: they go first.
      while (count < allowed && this.carried.length > 0) {
        const slot = this.carried[0]!;
        const c = this.channels[Math.floor(slot / items)]!;
        if (channel !== NO_CHANNEL && c !== channel) break;
        this.carried.shift();
        if (done(slot)) continue;
        channel = c;
        windows.enter(Math.floor(slot / items), slot, now);
        slots[count++] = slot;
      }
      if (count < allowed && windows.holding) {
        const sameChannel = (t: number) => {
          const c = this.channels[t]!;
          if (channel === NO_CHANNEL) channel = c;
          return c === channel;
        };
        count = windows.takeHeld(now, slots, count, allowed, sameChannel, done);
      }
      while (position < to && count < allowed) {
        const slot = order.at(position);
        if (slot < 0) {
          position++;
          continue;
        }
        const target = Math.floor(slot / items);
        const c = this.channelFor(target);
        if (c === NO_CHANNEL || (retry && done(slot))) {
          position++;
          continue;
        }
        if (windows.isHolding(target) || !windows.hasRoom(target, now)) {
          windows.hold(target, slot);
          position++;
          continue;
        }
        if (channel !== NO_CHANNEL && c !== channel) break;
        channel = c;
        windows.enter(target, slot, now);
        slots[count++] = slot;
        position++;
      }
      if (count === 0) {
        if (position >= to && !windows.holding) break;
        await this.waitForRoom(windows, now);
        continue;
      }
      for (let k = 0; k < count; k++) this.lastSent[Math.floor(slots[k]! / items)] = now;
      const { sent, refused } = await this.dispatch({ channel, slots, count, pass }, null);
      pacer.take(sent);
      this.counters.sent += sent;
      if (retry) this.counters.retransmissions += sent;
      if (sent + refused < count) {
        // The interface queue is full: the rest keep their places and go again first.
        if (++stalls > MAX_STALLS) throw queueFull();
        const unsent: number[] = [];
        for (let k = sent + refused; k < count; k++) {
          windows.notSent(slots[k]!);
          unsent.push(slots[k]!);
        }
        this.carried = unsent.concat(this.carried);
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

  /** Waits until a target with held slots may have room: one of its probes answered, or its oldest timed out. */
  private waitForRoom(windows: TargetWindows, now: number): Promise<void> {
    const wait = Math.max(1, Math.min(20, windows.nextRoom(now) - now));
    return new Promise((resolve) => {
      const woken = () => {
        clearTimeout(timer);
        windows.onRoom = null;
        resolve();
      };
      const timer = setTimeout(woken, wait);
      windows.onRoom = woken;
    });
  }

  private channelFor(target: number): number {
    if (this.outstanding[target] !== UNSEEN) return this.channels[target]!;
    const c = this.module.channelOf(target);
    if (!Number.isInteger(c) || c < 0 || c > 255)
      throw new RangeError(`bad channel ${c} for target ${target}`);
    this.channels[target] = c;
    const limit = this.options.maxOutstandingPerTarget;
    if (this.windows !== null && c !== NO_CHANNEL)
      this.windows.setLimit(target, typeof limit === "function" ? limit(target) : limit!);
    const live = c === NO_CHANNEL ? 0 : this.sharded ? this.ownSlots(target) : this.module.items;
    this.outstanding[target] = live;
    this.outstandingTotal += live;
    this.counters.live += live;
    return c;
  }

  /** A shard's slots of a target (those not marked done before anything of it was sent). */
  private ownSlots(target: number): number {
    const items = this.module.items;
    let n = 0;
    for (let slot = target * items, end = slot + items; slot < end; slot++) if (!this.isAnswered(slot)) n++;
    return n;
  }

  /**
   * Hands a batch to the module and returns how many went out. With one send in flight (the default) a send
   * that completes later is awaited, so a full interface queue is retried. With more, the next batch is built
   * while the kernel sends: the batch counts as sent now, and a shortfall fails the run.
   */
  private async dispatch(
    batch: SendBatch,
    logged: LoggedBatch | null,
  ): Promise<{ sent: number; refused: number }> {
    const limit = this.options.inFlight ?? 1;
    while (this.inFlight.size >= limit) await Promise.race(this.inFlight);
    const pending = this.module.send(batch);
    if (batch.firstTxId !== undefined && logged !== null)
      this.txStamps.expect(batch.channel, logged, batch.firstTxId, batch.count);
    if (!(pending instanceof Promise) || limit === 1) {
      const result = await pending;
      this.settled(batch, logged, result);
      return { sent: result.sent, refused: result.refused ?? 0 };
    }
    const result = pending;
    const sending: Promise<void> = result.then(
      (r) => {
        this.inFlight.delete(sending);
        this.settled(batch, logged, r);
        if (r.sent + (r.refused ?? 0) < batch.count) this.fail(queueFull());
      },
      (err: unknown) => {
        this.inFlight.delete(sending);
        this.failure ??= asNetworkFailure(err, "sending");
      },
    );
    this.inFlight.add(sending);
    return { sent: batch.count, refused: 0 };
  }

  private settled(batch: SendBatch, logged: LoggedBatch | null, r: SendResult): void {
    if (logged === null) return;
    // With kernel timestamps coming, the module's own start would only hide them (they are checked against
    // the dispatch time); without, it is better than the dispatch time.
    // NaN: the socket has no kernel send timestamps (the kernel refused them), as when the id is not given.
    const stamped = Number.isFinite(batch.firstTxId) || Number.isFinite(r.firstTxId);
    this.sendLog.finished(logged, r.endMs, stamped ? Number.NaN : r.startMs);
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
    this.stageNow = "waiting";
    const done = await this.waitForDeadlines();
    // every attempt still in the window is past its timeout now
    if (done) this.expireWindow(true);
    return done;
  }

  private async waitForDeadlines(): Promise<boolean> {
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
        const d = this.lastSent[t]! + this.passWait(t);
        if (d > deadline) deadline = d;
      }
      waiting = waiting.subarray(0, kept);
      const now = this.options.now();
      if (kept === 0 || now >= deadline) return true;
      await this.pauseUnlessAllDone(Math.max(1, Math.min(20, deadline - now)));
    }
  }

  /** How long target `t`'s probes of this pass wait after its last one: its timeout, grown by retryBackoff. */
  private passWait(t: number): number {
    const timeout = this.timeouts.timeoutOf(t);
    const backoff = this.options.retryBackoff;
    if (backoff === undefined || this.pass === 0) return timeout;
    return Math.max(timeout, Math.min(backoff.maxMs, timeout * backoff.factor ** this.pass));
  }

  /** Sleeps `ms`, or less: until the last outstanding slot is settled. */
  private pauseUnlessAllDone(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeAllDone = null;
        resolve();
      }, ms);
      this.wakeAllDone = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** How many more slots may be sent now under maxOutstanding (the expired leave the window first). */
  private windowRoom(): number {
    if (this.windowSlots === null) return this.slots.length;
    this.expireWindow(false);
    return Math.max(0, this.windowLimit() - this.windowCount);
  }

  /** the most slots that may wait at once: the congestion window, or maxOutstanding */
  private windowLimit(): number {
    if (this.windowSlots === null) return this.slots.length;
    return this.congestion ? this.congestion.limit() : this.windowSlots.length;
  }

  /** Drops the answered attempts from the window, and those past their timeout (all: every one unanswered). */
  private expireWindow(all: boolean): void {
    const ws = this.windowSlots;
    if (ws === null) return;
    const sentAt = this.windowSent;
    const items = this.module.items;
    const now = this.options.now();
    let kept = 0;
    for (let k = 0; k < this.windowCount; k++) {
      const slot = ws[k]!;
      if (this.isAnswered(slot)) continue;
      if (all || now >= sentAt[k]! + this.timeouts.timeoutOf(Math.floor(slot / items))) {
        this.module.expired?.(slot);
        this.congestion?.timedOut(1);
        continue;
      }
      ws[kept] = slot;
      sentAt[kept] = sentAt[k]!;
      kept++;
    }
    this.windowCount = kept;
  }

  private enterWindow(slots: Int32Array, count: number, at: number): void {
    const ws = this.windowSlots;
    if (ws === null) return;
    for (let k = 0; k < count; k++) {
      ws[this.windowCount] = slots[k]!;
      this.windowSent[this.windowCount++] = at;
    }
  }

  /** The window is full: waits for an answer or for the first attempt in it to time out. */
  /** Waits until `answers` more answers came, or the earliest attempt in the window times out (20 ms at most). */
  private pauseForWindow(answers: number): Promise<void> {
    const items = this.module.items;
    let first = Number.POSITIVE_INFINITY;
    for (let k = 0; k < this.windowCount; k++) {
      const d = this.windowSent[k]! + this.timeouts.timeoutOf(Math.floor(this.windowSlots![k]! / items));
      if (d < first) first = d;
    }
    const ms = Math.max(1, Math.min(20, first - this.options.now()));
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wakeAfter = Math.max(1, answers);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
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
        // An answer that still comes after the verdict is a duplicate: the slot has its record.
        this.answeredBits[slot >>> 3]! |= 1 << (slot & 7);
        module.unanswered(slot);
        if (++reported % 1024 === 0 && this.options.room) await this.options.room();
      }
    }
  }
}

/**
 * A send or receive the kernel refused (errno and syscall kept as the cause) ends the run as the environment's
 * failure (exit 3), whichever probe met it; an error without an errno is a bug and stays what it is.
 */
function asNetworkFailure(error: unknown, what: string): unknown {
  if (error instanceof UsageError || error instanceof EnvironmentError) return error;
  if (typeof (error as { code?: unknown }).code !== "string") return error;
  return environmentErrorFrom(error, what);
}

function queueFull(): EnvironmentError {
  return new EnvironmentError("sending: the interface queue stays full (ENOBUFS)", "ENOBUFS");
}
