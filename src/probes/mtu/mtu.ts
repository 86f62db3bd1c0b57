import { randomFillSync, randomInt } from "node:crypto";
import { intToIpv4 } from "../../addr/address";
import { PackedAddresses } from "../../addr/ip";
import { formatIpv6 } from "../../addr/ipv6";
import { type TargetSet, toTargetSet } from "../../addr/target-set";
import { Engine, type ProbeModule, type SendBatch, type SendResult } from "../../engine/engine";
import type { ProbeRun } from "../../engine/probe-run";
import { ResultQueue } from "../../engine/result-queue";
import { runProbe } from "../../engine/run-probe";
import { kernelDrops, summaryRecord } from "../../engine/summary";
import { EnvironmentError, environmentErrorFrom, UsageError } from "../../errors";
import { META_STRIDE, native } from "../../native/binding";
import type { LinkInfo, NativeError, NativeInetSocket, NativeNetlink } from "../../native/types";
import {
  icmpErrorVerdict,
  icmpv6ErrorVerdict,
  pingReplyFilter,
  sendErrorReason,
} from "../../net/icmp-errors";
import { findLink, listLinksAsync } from "../../net/links";
import { namespacePath } from "../../net/namespace";
import { refusingRouteType } from "../../net/refused-route";
import type { RouteDecision } from "../../net/route";
import { createRouteResolverAsync } from "../../net/route-resolver";
import { internetChecksum } from "../../packet/checksum";
import * as icmp from "../../packet/icmp";
import * as icmpv6 from "../../packet/icmpv6";
import * as ipv4 from "../../packet/ipv4";
import type { MtuRecord, SummaryRecord } from "../../records";
import { mtu6ReplyFilter } from "./filter";
import {
  ERROR,
  LOCAL_TOO_BIG,
  PENDING,
  type ProbeHistory,
  REPLY,
  type SearchLimits,
  type SearchResult,
  SILENT,
  searchMtu,
  TOO_BIG,
  UNSENT,
} from "./search";

// `wireprobe mtu`: the largest packet that gets through to each target with Don't Fragment set, found by
// ICMP echo requests of chosen sizes, and how the path treats bigger ones: a router's fragmentation-needed
// (ICMPv6 packet too big) error, or silence (a black hole). Sizes are whole IP packets, as `ip link` counts
// an MTU.
//
// The sockets are raw ICMP / ICMPv6 sockets with IP_PMTUDISC_PROBE (IPV6_PMTUDISC_PROBE): every request
// leaves whole with DF, sized against the interface's MTU only. The kernel's per-destination path MTU cache
// (which every frag-needed updates, ours included) is never consulted, so it can neither refuse a probe with
// EMSGSIZE nor answer for the path: every size is asked of the path itself, and every router's error is read
// here, from the raw socket, matched to the probe it quotes.
//
// One engine run: each target is a row of slots, one per probe it may get, with a window of one probe in
// flight. When a target's window has room (its probe was answered or timed out), the engine hands over its
// next slot, and the module decides then, from what became of the target's earlier probes (search.ts), which
// size that slot carries, or that the target is done (then the slot and the rest of the row are settled
// unsent). Many targets search at once, each at its own pace.

/**
 * Options of {@link mtu}.
 *
 * @example
 * ```ts
 * import { type MtuOptions, mtu } from "wireprobe";
 *
 * const options: MtuOptions = { netns: "node1", expectMtu: 1450, retries: 2, timeoutMs: 500 };
 * const run = mtu(["198.51.100.11", "2001:db8::11"], options);
 * ```
 */
export interface MtuOptions {
  /** a path MTU every target should reach: a smaller one makes the target `below-expected` */
  expectMtu?: number;
  /** the smallest size tried (default 68 for IPv4, 1280 for IPv6: what every link of the family must carry) */
  min?: number;
  /** the largest size tried (default, and at most: the MTU of the interface the route to the target uses) */
  max?: number;
  /** extra probes of a size that met silence before it counts as dropped (default 1) */
  retries?: number;
  /** the longest a probe waits for its answer, ms (default 1000; each target's wait adapts below it) */
  timeoutMs?: number;
  /** probes per second over all targets, 0 = unlimited (default 1000) */
  rate?: number;
  /** send out of this interface (SO_BINDTODEVICE); its MTU is the default maximum */
  interface?: string;
  /** network namespace: a name from `ip netns` or a path such as /proc/PID/ns/net */
  netns?: string;
  /** the most addresses one IPv6 prefix or range among the targets may hold (default 65536, a /112) */
  ipv6Cap?: number;
  /** stops the search: a record for every target with what it found so far (`incomplete`), then the summary */
  signal?: AbortSignal;
}

/**
 * The defaults of {@link MtuOptions}.
 *
 * @example
 * ```ts
 * import { MTU_DEFAULTS, mtu } from "wireprobe";
 *
 * const run = mtu("198.51.100.11", { retries: MTU_DEFAULTS.retries + 1 });
 * ```
 */
export const MTU_DEFAULTS = {
  /** a size that met silence is sent once more before it counts as dropped */
  retries: 1,
  /** the longest a probe waits, ms */
  timeoutMs: 1000,
  /** probes per second over all targets */
  rate: 1000,
  /** the smallest size tried for an IPv4 target (RFC 791's minimum) */
  min4: 68,
  /** the smallest size tried for an IPv6 target (RFC 8200's minimum link MTU) */
  min6: 1280,
} as const;
export const MTU_MAX_TARGETS = 16384;
/** probes one target may get: the search needs about 12 to 20 for 68..1500 with retries, 30 for 68..65535 */
const PROBES_PER_TARGET = 40;
const BATCH = 64;
const CHANNEL_V4 = 1;
const CHANNEL_V6 = 2;
const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
/** random per run, first in every request's payload: a reply or a quote that carries it is about this run */
const MAGIC_LENGTH = 8;
/** the smallest request: the headers and the magic */
const SMALLEST = { 4: IPV4_HEADER + icmp.HEADER_LENGTH + MAGIC_LENGTH, 6: IPV6_HEADER + 8 + MAGIC_LENGTH };
/** IPv4's total length field, and IPv6's payload length field plus its header */
const LARGEST = { 4: 0xffff, 6: 0xffff + IPV6_HEADER };
/** the smallest MTU a router may announce (RFC 791, RFC 8200) */
const FLOOR = { 4: 68, 6: 1280 };
const QUEUE_LIMIT = 4096;
/** requests waiting for their kernel send timestamps, at most */
const MAX_TX_WAITING = 4096;
/** the kernel's and the process's clock readings differ a little */
const CLOCK_SLACK_MS = 0.005;
const RCVBUF = 4 << 20;

/** What every target's record may need besides its search. */
const NO_PROBE_LOCAL = 1;
const NO_PROBE_REFUSED = 2;

/**
 * The path MTU to every target: one `mtu` record each (in the order they finish), then a summary. Targets are
 * IPv4 or IPv6 addresses, prefixes or ranges, of both families in one run. Needs root or CAP_NET_RAW (raw ICMP
 * sockets: the routers' errors are the point).
 *
 * @example
 * ```ts
 * import { mtu } from "wireprobe";
 *
 * const run = mtu(["198.51.100.11", "198.51.100.12", "2001:db8::11"], { netns: "node1", expectMtu: 1450 });
 * for await (const r of run) {
 *   if (r.state !== "ok" && r.state !== "reduced") console.log(r.target, r.state, r.pathMtu, r.reportedBy);
 * }
 * console.log(run.summary?.states);
 * ```
 */
export function mtu(
  targets: string | readonly string[] | TargetSet,
  options: MtuOptions = {},
): ProbeRun<MtuRecord> {
  const set = toTargetSet(targets, options.ipv6Cap === undefined ? {} : { ipv6Cap: options.ipv6Cap });
  if (set.size === 0) throw new UsageError("no targets");
  if (set.size > MTU_MAX_TARGETS)
    throw new UsageError(`too many targets (${set.size}; at most ${MTU_MAX_TARGETS})`);
  const run = new MtuSweep(set, checkOptions(options));
  return {
    get summary() {
      return run.summary;
    },
    [Symbol.asyncIterator]: () => run.run(),
  };
}

function checkOptions(options: MtuOptions): MtuOptions {
  const size = (name: string, v: number | undefined, low: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < low || v > LARGEST[6]))
      throw new UsageError(`${name} must be a whole number of bytes from ${low} to ${LARGEST[6]}`);
  };
  size("min", options.min, SMALLEST[4]);
  size("max", options.max, SMALLEST[4]);
  size("expected MTU", options.expectMtu, FLOOR[4]);
  if (options.min !== undefined && options.max !== undefined && options.min > options.max)
    throw new UsageError(`min (${options.min}) is larger than max (${options.max})`);
  const retries = options.retries ?? MTU_DEFAULTS.retries;
  if (!Number.isInteger(retries) || retries < 0 || retries > 10)
    throw new UsageError("retries must be 0 to 10");
  const timeout = options.timeoutMs ?? MTU_DEFAULTS.timeoutMs;
  if (!(timeout >= 1 && timeout <= 600_000)) throw new UsageError("timeout must be 1 to 600000 ms");
  const rate = options.rate ?? MTU_DEFAULTS.rate;
  if (!(rate >= 0)) throw new UsageError("rate must be 0 or more");
  return options;
}

/** One target's probes, as the search reads them: a view over the run's per-slot arrays. */
class TargetHistory implements ProbeHistory {
  base = 0;
  count = 0;
  constructor(
    private readonly sizes: Int32Array,
    private readonly outcomes: Uint8Array,
    private readonly announcedMtus: Int32Array,
  ) {}
  size(k: number): number {
    return this.sizes[this.base + k]!;
  }
  outcome(k: number): number {
    return this.outcomes[this.base + k]!;
  }
  announced(k: number): number {
    return this.announcedMtus[this.base + k]!;
  }
}

class MtuSweep implements ProbeModule {
  summary: SummaryRecord | undefined;
  readonly targets: number;
  readonly items = PROBES_PER_TARGET;
  private readonly retries: number;
  private readonly expect: number | null;
  /** per slot: the size it carried, what became of it, the MTU its too-big error announced */
  private readonly sizes: Int32Array;
  private readonly outcomes: Uint8Array;
  private readonly announced: Int32Array;
  /** per slot: when its request left (the send call's time, then the kernel's send timestamp when one comes) */
  private readonly sentAt: Float64Array;
  /** TX id → slot, for the kernel's send timestamps still to come (per socket) */
  private readonly txSlots = [new Map<number, number>(), new Map<number, number>()];
  /** per slot with an error: who sent it (the router's address) and, for other errors, the reason */
  private readonly errorFrom = new Map<number, string>();
  private readonly errorReason = new Map<number, string>();
  /** per slot: a too-big error came after its reply (counted as not believed) */
  private readonly lateErrors = new Map<number, number>();
  /** per target: search bounds, the interface, the probe in flight (-1 none), what became of it */
  private readonly mins: Int32Array;
  private readonly maxes: Int32Array;
  private readonly interfaceMtu: Int32Array;
  private readonly interfaceOf: Uint16Array;
  private readonly interfaces: string[] = [];
  private readonly inFlight: Int32Array;
  private readonly probesSent: Uint16Array;
  private readonly rttMin: Float64Array;
  private readonly ignored: Uint16Array;
  private readonly emitted: Uint8Array;
  /** per target not probed: local or refused by its route (with the route type) */
  private readonly noProbe: Uint8Array;
  private readonly refusedBy = new Map<number, string>();
  private readonly history: TargetHistory;
  private readonly queue = new ResultQueue<MtuRecord>();
  private readonly counts: Record<string, number> = {};
  private readonly magic = randomFillSync(Buffer.alloc(MAGIC_LENGTH));
  private readonly id = randomInt(1, 0x10000);
  /** the request buffers of a batch, grown to the largest size asked */
  private readonly buffers: Buffer[] = [];
  private readonly destinations = new PackedAddresses(4, BATCH);
  private readonly destinations6 = new PackedAddresses(6, BATCH);
  private readonly address6 = new Uint8Array(16);
  private engine: Engine | null = null;
  private sock: NativeInetSocket | null = null;
  private sock6: NativeInetSocket | null = null;
  /** asks the kernel, as each target finishes, what it now holds for the destination (kernelMtu) */
  private netlink: NativeNetlink | null = null;
  private packetsReceived = 0;
  /** ICMP messages that passed the kernel filter but are about nothing this run sent to a target */
  private packetsIgnored = 0;
  private start = 0;
  private started = false;

  constructor(
    private readonly set: TargetSet,
    private readonly options: MtuOptions,
  ) {
    const n = set.size;
    this.targets = n;
    this.retries = options.retries ?? MTU_DEFAULTS.retries;
    this.expect = options.expectMtu ?? null;
    const slots = n * this.items;
    this.sizes = new Int32Array(slots);
    this.outcomes = new Uint8Array(slots);
    this.announced = new Int32Array(slots);
    this.sentAt = new Float64Array(slots);
    this.mins = new Int32Array(n);
    this.maxes = new Int32Array(n);
    this.interfaceMtu = new Int32Array(n);
    this.interfaceOf = new Uint16Array(n);
    this.inFlight = new Int32Array(n).fill(-1);
    this.probesSent = new Uint16Array(n);
    this.rttMin = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
    this.ignored = new Uint16Array(n);
    this.emitted = new Uint8Array(n);
    this.noProbe = new Uint8Array(n);
    this.history = new TargetHistory(this.sizes, this.outcomes, this.announced);
  }

  run(): AsyncGenerator<MtuRecord> {
    if (this.started) throw new Error("an mtu() run can be iterated only once");
    this.started = true;
    return runProbe(
      this.queue,
      {
        setup: () => this.setup(),
        drive: (stop) => this.drive(stop),
        close: () => {
          this.sock?.close();
          this.sock6?.close();
          this.netlink?.close();
        },
      },
      this.options.signal,
    );
  }

  // --- setup: routes, interfaces, sockets ----------------------------------------------------------------

  private async setup(): Promise<void> {
    const netns = namespacePath(this.options.netns);
    const links = await listLinksAsync(netns);
    const device = this.options.interface;
    let pinned: LinkInfo | undefined;
    if (device !== undefined) {
      pinned = findLink(links, device);
      if (!pinned.up) throw new EnvironmentError(`interface "${pinned.name}" is down`, "ENETDOWN");
    }
    const resolver = await createRouteResolverAsync(netns, pinned ? { link: pinned } : {});
    const byIndex = new Map(resolver.links.map((l) => [l.index, l]));
    let probed4 = false;
    let probed6 = false;
    try {
      for (let t = 0; t < this.targets; t++) {
        const v4 = t < this.set.size4;
        let decision: RouteDecision;
        if (v4) decision = resolver.resolve(this.set.at(t));
        else {
          this.set.ipv6Into(t, this.address6);
          decision = resolver.resolve6(this.address6);
        }
        if (decision.kind === "local") {
          this.noProbe[t] = NO_PROBE_LOCAL;
          continue;
        }
        const refused = refusingRouteType(decision);
        if (refused !== null) {
          this.noProbe[t] = NO_PROBE_REFUSED;
          this.refusedBy.set(t, refused);
          continue;
        }
        const link = pinned ?? ("ifindex" in decision ? byIndex.get(decision.ifindex) : undefined);
        if (link === undefined) {
          this.noProbe[t] = NO_PROBE_REFUSED;
          this.refusedBy.set(t, "no-route");
          continue;
        }
        this.place(t, link, v4 ? 4 : 6);
        if (v4) probed4 = true;
        else probed6 = true;
      }
    } finally {
      resolver.close();
    }
    const common = {
      type: "raw" as const,
      rcvbuf: RCVBUF,
      pmtuProbe: true,
      ...(netns === undefined ? {} : { netns }),
      ...(device === undefined ? {} : { device }),
    };
    if (probed4)
      this.sock = openSocket({ ...common, family: 4, protocol: 1, filter: pingReplyFilter(this.id) });
    if (probed6)
      this.sock6 = openSocket({ ...common, family: 6, protocol: 58, filter: mtu6ReplyFilter(this.id) });
    this.netlink = openNetlink(netns);
    this.start = native.monotonicMs();
  }

  /** A probed target's bounds: from the family's floor (or --min) to its interface's MTU (or --max). */
  private place(t: number, link: LinkInfo, family: 4 | 6): void {
    let name = this.interfaces.indexOf(link.name);
    if (name < 0) name = this.interfaces.push(link.name) - 1;
    this.interfaceOf[t] = name;
    this.interfaceMtu[t] = link.mtu;
    // The kernel sends nothing larger than the interface's MTU with DF: no probe can ask the path beyond it.
    const max = Math.max(SMALLEST[family], Math.min(this.options.max ?? link.mtu, link.mtu, LARGEST[family]));
    const min = Math.max(
      SMALLEST[family],
      this.options.min ?? (family === 4 ? MTU_DEFAULTS.min4 : MTU_DEFAULTS.min6),
    );
    this.maxes[t] = max;
    this.mins[t] = Math.min(min, max);
  }

  private async drive(stop: AbortSignal): Promise<void> {
    const engine = new Engine(this, {
      order: "sequential",
      retries: 0,
      rate: this.options.rate ?? MTU_DEFAULTS.rate,
      batch: BATCH,
      timeoutMs: this.options.timeoutMs ?? MTU_DEFAULTS.timeoutMs,
      // A target's next size depends on what became of its last probe: one at a time per target.
      maxOutstandingPerTarget: 1,
      signal: stop,
      room: () => this.queue.waitForRoom(QUEUE_LIMIT),
      now: native.monotonicMs,
    });
    this.engine = engine;
    // Targets that get no probe have their records now.
    for (let t = 0; t < this.targets; t++) if (this.noProbe[t] !== 0) this.emit(t, null);
    // Round trips from the kernel's send timestamps, as the replies' are.
    this.sock?.startTxTimestamps((ids, times, n) => this.onTxStamps(0, ids, times, n));
    this.sock6?.startTxTimestamps((ids, times, n) => this.onTxStamps(1, ids, times, n));
    this.sock?.startReceive(
      (data, meta, count) => this.onPackets(data, meta, count),
      (err) => engine.fail(err),
    );
    this.sock6?.startReceive(
      (data, meta, count) => this.onPackets6(data, meta, count),
      (err) => engine.fail(err),
    );
    const completed = await engine.run();
    if (!completed) {
      // Interrupted: every target gets the record of what it found so far (incomplete).
      for (let t = 0; t < this.targets; t++) {
        if (this.emitted[t] === 0) this.emit(t, null);
        if (this.queue.length > QUEUE_LIMIT) await this.queue.waitForRoom(QUEUE_LIMIT / 2);
      }
    }
    this.summary = summaryRecord(
      {
        command: "mtu",
        targets: this.targets,
        states: this.counts,
        packetsSent: engine.counters.sent,
        packetsReceived: this.packetsReceived,
        packetsDropped: kernelDrops(this.sock) + kernelDrops(this.sock6),
        durationMs: native.monotonicMs() - this.start,
        aborted: !completed,
      },
      { packetsIgnored: this.packetsIgnored },
    );
  }

  // --- the engine's side ------------------------------------------------------------------------------------

  channelOf(target: number): number {
    if (this.noProbe[target] !== 0) return 0;
    return target < this.set.size4 ? CHANNEL_V4 : CHANNEL_V6;
  }

  /**
   * Decides each slot's size now, from what its target's earlier probes met, and sends those that carry one.
   * A slot whose target is done goes unsent: it is settled and reported refused, after the sent ones (the
   * batch's slots are reordered for that, as the engine reads them: sent, then refused, then the unsent rest).
   */
  send(batch: SendBatch): SendResult {
    const { slots, count } = batch;
    const v6 = batch.channel === CHANNEL_V6;
    const items = this.items;
    const needed: number[] = [];
    const skipped: number[] = [];
    for (let k = 0; k < count; k++) {
      const slot = slots[k]!;
      const t = Math.floor(slot / items);
      if (this.emitted[t] !== 0) {
        skipped.push(slot);
        continue;
      }
      // The window let this slot go: the probe before it was answered, or is past its timeout.
      this.expire(t);
      const r = this.search(t);
      if (r.over) {
        this.finish(t, r);
        skipped.push(slot);
        continue;
      }
      this.sizes[slot] = r.next;
      needed.push(slot);
    }
    const packets: Buffer[] = [];
    const destinations = v6 ? this.destinations6 : this.destinations;
    for (let k = 0; k < needed.length; k++) {
      const slot = needed[k]!;
      const t = Math.floor(slot / items);
      packets.push(this.request(k, slot, this.sizes[slot]!, v6));
      if (v6) this.set.ipv6Into(t, destinations.buffer, k * 16);
      else destinations.setV4(k, this.set.at(t));
    }
    const startMs = native.monotonicMs();
    let sent = needed.length;
    let failed: NativeError | null = null;
    if (needed.length > 0) {
      const socket = v6 ? this.sock6! : this.sock!;
      try {
        sent = socket.send(packets, destinations.view(needed.length));
      } catch (err) {
        failed = err as NativeError;
        sent = failed.sent ?? 0;
      }
    }
    const endMs = native.monotonicMs();
    const firstTxId = sent > 0 ? (v6 ? this.sock6! : this.sock!).lastSendTxId : Number.NaN;
    const txSlots = this.txSlots[v6 ? 1 : 0]!;
    for (let k = 0; k < sent; k++) {
      const slot = needed[k]!;
      const t = Math.floor(slot / items);
      this.sentAt[slot] = startMs;
      if (Number.isFinite(firstTxId)) {
        txSlots.set((firstTxId + k) >>> 0, slot);
        // A driver that timestamps nothing must not grow the map without end.
        if (txSlots.size > MAX_TX_WAITING) txSlots.delete(txSlots.keys().next().value as number);
      }
      this.outcomes[slot] = PENDING;
      this.inFlight[t] = slot;
      this.probesSent[t]!++;
    }
    // The engine reads the batch as: the sent slots, then the refused ones, then those that go again.
    const refused: number[] = [];
    if (failed !== null && sent < needed.length) refused.push(needed[sent]!);
    refused.push(...skipped);
    const again = needed.slice(sent + (failed !== null ? 1 : 0));
    let k = 0;
    for (const slot of needed.slice(0, sent)) slots[k++] = slot;
    for (const slot of refused) slots[k++] = slot;
    for (const slot of again) {
      this.sizes[slot] = 0;
      slots[k++] = slot;
    }
    for (const slot of skipped) this.engine!.settle(slot);
    if (failed !== null && sent < needed.length) this.refusedSend(needed[sent]!, failed, endMs);
    return { sent, refused: refused.length, startMs, endMs };
  }

  unanswered(slot: number): void {
    const t = Math.floor(slot / this.items);
    if (this.emitted[t] !== 0) return;
    this.expire(t);
    // No slot is left for this target, or the run ends: what it found so far is its answer.
    this.finish(t, this.search(t));
  }

  // --- the search ----------------------------------------------------------------------------------------------

  private limits(t: number): SearchLimits {
    const v4 = t < this.set.size4;
    return {
      min: this.mins[t]!,
      max: this.maxes[t]!,
      attempts: this.retries + 1,
      floor: v4 ? FLOOR[4] : FLOOR[6],
    };
  }

  private search(t: number): SearchResult {
    this.history.base = t * this.items;
    this.history.count = this.items;
    return searchMtu(this.history, this.limits(t));
  }

  /** The target's probe in flight, if unanswered, met silence: its timeout has passed. */
  private expire(t: number): void {
    const slot = this.inFlight[t]!;
    if (slot < 0) return;
    this.inFlight[t] = -1;
    if (this.outcomes[slot] === PENDING) this.outcomes[slot] = SILENT;
  }

  /** The target's search is over: its record, and its unused slots leave the engine. */
  private finish(t: number, r: SearchResult): void {
    this.emit(t, r);
    const base = t * this.items;
    for (let i = 0; i < this.items; i++) this.engine!.settle(base + i);
  }

  // --- requests ----------------------------------------------------------------------------------------------

  /** The echo request of `size` bytes (whole IP packet) for `slot`, in the batch's k-th buffer. */
  private request(k: number, slot: number, size: number, v6: boolean): Buffer {
    const length = size - (v6 ? IPV6_HEADER : IPV4_HEADER);
    let buf = this.buffers[k];
    if (buf === undefined || buf.length < length) {
      buf = Buffer.alloc(Math.max(length, 1500));
      // A fixed pattern after the magic, as ping fills its payload.
      for (let i = 0; i < buf.length; i++) buf[i] = i & 0xff;
      this.buffers[k] = buf;
    }
    const msg = buf.subarray(0, length);
    msg[0] = v6 ? icmpv6.TYPE_ECHO_REQUEST : icmp.TYPE_ECHO_REQUEST;
    msg[1] = 0;
    msg.writeUInt16BE(0, 2);
    msg.writeUInt16BE(this.id, 4);
    msg.writeUInt16BE(slot % this.items, 6);
    this.magic.copy(msg, 8);
    // The kernel fills in the ICMPv6 checksum; ICMP's is ours.
    if (!v6) msg.writeUInt16BE(internetChecksum(msg, 0, length), 2);
    return msg;
  }

  /** The kernel refused a probe: too big for the interface (EMSGSIZE), or no way out (no route, prohibited). */
  private refusedSend(slot: number, err: NativeError, at: number): void {
    const t = Math.floor(slot / this.items);
    if (err.code === "EMSGSIZE") this.outcomes[slot] = LOCAL_TOO_BIG;
    else {
      this.outcomes[slot] = ERROR;
      this.errorReason.set(slot, sendErrorReason(err.code));
    }
    this.engine!.answer(slot, at);
    const r = this.search(t);
    if (r.over) this.finish(t, r);
  }

  // --- answers ---------------------------------------------------------------------------------------------

  private onPackets(data: Buffer, meta: Float64Array, count: number): void {
    // Send timestamps before the answers read after them.
    this.sock?.readTxTimestamps();
    for (let p = 0; p < count; p++) {
      const base = p * META_STRIDE;
      try {
        const ip = ipv4.decode(data, meta[base]!, meta[base + 1]!, {
          verifyChecksum: false,
          allowTruncated: true,
        });
        if (ip.protocol !== ipv4.PROTOCOL_ICMP) continue;
        this.onIcmp(data, ip.payloadOffset, ip.payloadLength, ip.srcInt, meta[base + 2]!);
      } catch {
        // Malformed: not an answer to anything we sent.
        this.packetsIgnored++;
      }
    }
  }

  private onPackets6(data: Buffer, meta: Float64Array, count: number): void {
    this.sock6?.readTxTimestamps();
    for (let p = 0; p < count; p++) {
      const base = p * META_STRIDE;
      try {
        this.onIcmp6(data, meta[base]!, meta[base + 1]!, meta[base + 3]!, meta[base + 2]!);
      } catch {
        this.packetsIgnored++;
      }
    }
  }

  /** The kernel's send timestamps: the request with TX id ids[k] left at times[k]. */
  private onTxStamps(socket: number, ids: Float64Array, times: Float64Array, count: number): void {
    const txSlots = this.txSlots[socket]!;
    for (let k = 0; k < count; k++) {
      const id = ids[k]! >>> 0;
      const slot = txSlots.get(id);
      if (slot === undefined) continue;
      txSlots.delete(id);
      // Not before the send call: then it is another request's (the ids wrapped).
      if (times[k]! >= this.sentAt[slot]! - CLOCK_SLACK_MS) this.sentAt[slot] = times[k]!;
    }
  }

  /** The slot of target `t`'s probe number `seq`, if it went out; else -1. */
  private sentSlot(t: number, seq: number): number {
    if (t < 0 || seq >= this.items || this.noProbe[t] !== 0) return -1;
    const slot = t * this.items + seq;
    const o = this.outcomes[slot]!;
    return o === UNSENT || this.sizes[slot] === 0 ? -1 : slot;
  }

  private magicAt(data: Uint8Array, offset: number): boolean {
    for (let i = 0; i < MAGIC_LENGTH; i++) if (data[offset + i] !== this.magic[i]) return false;
    return true;
  }

  private onIcmp(data: Buffer, offset: number, length: number, source: number, at: number): void {
    const msg = icmp.decode(data, offset, length);
    if (msg.kind === "echo-reply") {
      if (msg.id !== this.id || msg.payloadLength < MAGIC_LENGTH || !this.magicAt(data, msg.payloadOffset)) {
        this.packetsIgnored++;
        return;
      }
      const t = this.set.indexOf(source);
      const slot = t >= 0 && t < this.set.size4 ? this.sentSlot(t, msg.seq) : -1;
      // A reply carries the whole request back: its length is the size sent.
      if (slot < 0 || msg.payloadLength + icmp.HEADER_LENGTH + IPV4_HEADER !== this.sizes[slot]) {
        this.ignore(t);
        return;
      }
      this.onReply(slot, at);
      return;
    }
    if (msg.kind !== "destination-unreachable" && msg.kind !== "time-exceeded") {
      this.packetsIgnored++;
      return;
    }
    const o = msg.original;
    const t = o.ipv4.dstInt === undefined ? -1 : this.set.indexOf(o.ipv4.dstInt);
    const target = t >= 0 && t < this.set.size4 ? t : -1;
    const slot =
      o.ipv4.protocol === ipv4.PROTOCOL_ICMP &&
      o.icmpType === icmp.TYPE_ECHO_REQUEST &&
      o.icmpId === this.id &&
      o.icmpSeq !== null
        ? this.sentSlot(target, o.icmpSeq)
        : -1;
    // The quote must be of a request we sent: its length, and the magic where the quote reaches it.
    const quotesMagic =
      o.transportLength < icmp.HEADER_LENGTH + MAGIC_LENGTH ||
      this.magicAt(data, o.transportOffset + icmp.HEADER_LENGTH);
    if (slot < 0 || o.ipv4.totalLength !== this.sizes[slot] || !quotesMagic) {
      this.ignore(target);
      return;
    }
    const from = intToIpv4(source);
    if (msg.kind === "destination-unreachable" && msg.code === icmp.UNREACH_CODES["frag-needed"]) {
      this.onTooBig(slot, msg.mtu, from, FLOOR[4], at);
      return;
    }
    const verdict = icmpErrorVerdict(msg.type, msg.code);
    if (verdict === null) {
      this.ignore(target);
      return;
    }
    this.onError(slot, verdict.reason, from, at);
  }

  private onIcmp6(data: Buffer, offset: number, length: number, sourceOffset: number, at: number): void {
    const msg = icmpv6.decode(data, offset, length);
    if (msg.kind === "echo-reply") {
      if (msg.id !== this.id || msg.payloadLength < MAGIC_LENGTH || !this.magicAt(data, msg.payloadOffset)) {
        this.packetsIgnored++;
        return;
      }
      const t = this.set.indexOfIpv6(data, sourceOffset);
      const slot = this.sentSlot(t, msg.seq);
      if (slot < 0 || msg.payloadLength + icmpv6.HEADER_LENGTH + IPV6_HEADER !== this.sizes[slot]) {
        this.ignore(t);
        return;
      }
      this.onReply(slot, at);
      return;
    }
    if (
      msg.kind !== "destination-unreachable" &&
      msg.kind !== "time-exceeded" &&
      msg.kind !== "packet-too-big"
    ) {
      this.packetsIgnored++;
      return;
    }
    const o = msg.original;
    const t = this.set.indexOfIpv6(o.ipv6.dstBytes, 0);
    const slot =
      o.ipv6.protocol === 58 &&
      o.icmpType === icmpv6.TYPE_ECHO_REQUEST &&
      o.icmpId === this.id &&
      o.icmpSeq !== null
        ? this.sentSlot(t, o.icmpSeq)
        : -1;
    const quotesMagic = o.ipv6.upperLength < 8 + MAGIC_LENGTH || this.magicAt(data, o.ipv6.upperOffset + 8);
    if (slot < 0 || o.ipv6.payloadLength + IPV6_HEADER !== this.sizes[slot] || !quotesMagic) {
      this.ignore(t);
      return;
    }
    const from = formatIpv6(data, sourceOffset);
    if (msg.kind === "packet-too-big") {
      this.onTooBig(slot, msg.mtu, from, FLOOR[6], at);
      return;
    }
    const verdict = icmpv6ErrorVerdict(msg.type, msg.code);
    if (verdict === null) {
      this.ignore(t);
      return;
    }
    this.onError(slot, verdict.reason, from, at);
  }

  /** An answer that matched no probe of ours: counted against its target when it names one. */
  private ignore(t: number): void {
    this.packetsIgnored++;
    if (t >= 0 && t < this.targets && this.ignored[t]! < 0xffff) this.ignored[t]!++;
  }

  private onReply(slot: number, at: number): void {
    const t = Math.floor(slot / this.items);
    if (this.emitted[t] !== 0 || this.outcomes[slot] === REPLY) return;
    this.packetsReceived++;
    // Whatever was said of this probe before (silence, an error), it got through.
    if (this.outcomes[slot] === TOO_BIG) this.lateErrors.set(slot, 1);
    this.outcomes[slot] = REPLY;
    // -1: already answered (an error settled it first); the reply still times the path.
    this.engine!.answer(slot, at);
    const rtt = Math.max(0, at - this.sentAt[slot]!);
    if (rtt < this.rttMin[t]!) this.rttMin[t] = rtt;
    if (this.inFlight[t] === slot) this.inFlight[t] = -1;
    const r = this.search(t);
    if (r.over) this.finish(t, r);
  }

  /**
   * A router says the probe was too big (announcing `mtu`, 0 for none). An MTU no link can have (below the
   * family's minimum) or not below the size it quotes is not believed: the error is ignored.
   */
  private onTooBig(slot: number, mtu: number, from: string, floor: number, at: number): void {
    const t = Math.floor(slot / this.items);
    const size = this.sizes[slot]!;
    const legacy = mtu === 0 && floor === FLOOR[4];
    if (!legacy && (mtu < floor || mtu >= size)) {
      this.ignore(t);
      return;
    }
    if (this.emitted[t] !== 0) return;
    this.packetsReceived++;
    if (this.outcomes[slot] === REPLY) {
      // It got through anyway: the error is not the path speaking.
      this.lateErrors.set(slot, 1);
      return;
    }
    this.outcomes[slot] = TOO_BIG;
    this.announced[slot] = mtu;
    this.errorFrom.set(slot, from);
    this.settleError(slot, at);
  }

  /** Another ICMP error about the probe: unreachable, prohibited, TTL exceeded. */
  private onError(slot: number, reason: string, from: string, at: number): void {
    const t = Math.floor(slot / this.items);
    if (this.emitted[t] !== 0) return;
    this.packetsReceived++;
    if (this.outcomes[slot] === REPLY) return;
    this.outcomes[slot] = ERROR;
    this.errorReason.set(slot, reason);
    this.errorFrom.set(slot, from);
    this.settleError(slot, at);
  }

  /**
   * An error answers its probe at once, so the search goes on, unless it would end the search: then the
   * probe waits out its timeout first, and a reply that comes meanwhile (a forged or misdirected error about
   * a packet that did get through) reopens it. The next slot the engine hands over decides.
   */
  private settleError(slot: number, at: number): void {
    const t = Math.floor(slot / this.items);
    if (this.search(t).over && this.inFlight[t] === slot) return;
    this.engine!.answer(slot, at);
    if (this.inFlight[t] === slot) this.inFlight[t] = -1;
  }

  // --- records -----------------------------------------------------------------------------------------------

  private targetText(t: number): string {
    if (t < this.set.size4) return intToIpv4(this.set.at(t));
    this.set.ipv6Into(t, this.address6);
    return formatIpv6(this.address6);
  }

  /** The target's record: from its search (r), or, for a target without probes or interrupted, what it has. */
  private emit(t: number, r: SearchResult | null): void {
    if (this.emitted[t] !== 0) return;
    this.emitted[t] = 1;
    const probed = this.noProbe[t] === 0;
    const result = r ?? (probed ? this.search(t) : null);
    const base = t * this.items;
    const complete = result?.over === true;
    const pathMtu = result !== null && result.pathMtu > 0 ? result.pathMtu : null;
    const ceiling = probed ? this.maxes[t]! : null;
    let reportedMtu: number | null = null;
    let reportedBy: string | null = null;
    if (result !== null && result.reportedAt >= 0) {
      reportedMtu = result.reportedMtu > 0 ? result.reportedMtu : null;
      reportedBy = this.errorFrom.get(base + result.reportedAt) ?? null;
    }
    let late = 0;
    for (let i = 0; i < this.items; i++) if (this.lateErrors.has(base + i)) late++;
    let reason: string | null = null;
    let from: string | null = null;
    let state: MtuRecord["state"];
    if (this.noProbe[t] === NO_PROBE_LOCAL) state = "local";
    else if (this.noProbe[t] === NO_PROBE_REFUSED) {
      state = "unreachable";
      reason = this.refusedBy.get(t) ?? "no-route";
    } else if (!complete || result === null) state = "incomplete";
    else if (!result.reachable) {
      // What the smallest probe met: an error says why, silence says nothing.
      for (let i = 0; i < this.items && reason === null; i++) {
        if (this.outcomes[base + i] !== ERROR) continue;
        reason = this.errorReason.get(base + i) ?? null;
        from = this.errorFrom.get(base + i) ?? null;
      }
      state = reason !== null ? "unreachable" : "no-reply";
    } else if (result.blackHole) state = "black-hole";
    else if (this.expect !== null && pathMtu !== null && pathMtu < this.expect) state = "below-expected";
    else if (pathMtu !== null && ceiling !== null && pathMtu < ceiling) state = "reduced";
    else state = "ok";
    const boundary = complete && result?.reachable ? result.boundary : null;
    if (boundary === "error" && reason === null) {
      const b = this.firstSlotOfSize(t, (pathMtu ?? 0) + 1, ERROR);
      if (b >= 0) {
        reason = this.errorReason.get(b) ?? null;
        from = this.errorFrom.get(b) ?? null;
      }
    }
    const rtt = this.rttMin[t]!;
    const record: MtuRecord = {
      type: "mtu",
      target: this.targetText(t),
      state,
      pathMtu,
      interfaceMtu: probed ? this.interfaceMtu[t]! : null,
      interface: probed ? this.interfaces[this.interfaceOf[t]!]! : null,
      ceiling,
      expectedMtu: this.expect,
      blackHole: result?.blackHole === true,
      boundary,
      reportedMtu,
      reportedBy,
      probesSent: this.probesSent[t]!,
      icmpErrors: result?.believedErrors ?? 0,
      ignoredErrors: (result?.contradictedErrors ?? 0) + this.ignored[t]! + late,
      rttMs: Number.isFinite(rtt) ? Math.round(rtt * 1000) / 1000 : null,
      kernelMtu: probed ? this.kernelMtu(t) : null,
      reason,
      from,
    };
    this.counts[state] = (this.counts[state] ?? 0) + 1;
    this.queue.push(record);
  }

  /** The MTU this host's kernel now uses for the target: its route's, or the path MTU it cached. */
  private kernelMtu(t: number): number | null {
    if (this.netlink === null) return null;
    try {
      if (t < this.set.size4) return this.netlink.routeGet(this.set.at(t), { withName: false }).mtu;
      this.set.ipv6Into(t, this.address6);
      return this.netlink.routeGet(this.address6, { withName: false }).mtu;
    } catch {
      return null;
    }
  }

  private firstSlotOfSize(t: number, size: number, outcome: number): number {
    const base = t * this.items;
    for (let i = 0; i < this.items; i++) {
      if (this.sizes[base + i] === size && this.outcomes[base + i] === outcome) return base + i;
    }
    return -1;
  }
}

function openNetlink(netns: string | undefined): NativeNetlink | null {
  try {
    return new native.Netlink(netns);
  } catch {
    // Only kernelMtu needs it: the records say null rather than the run failing.
    return null;
  }
}

function openSocket(options: ConstructorParameters<typeof native.InetSocket>[0]): NativeInetSocket {
  try {
    return new native.InetSocket(options);
  } catch (err) {
    const { code, syscall } = err as NativeError;
    if ((code === "EPERM" || code === "EACCES") && syscall !== "setns") {
      throw new EnvironmentError(
        `mtu needs root or CAP_NET_RAW: it sends raw ICMP${options.family === 6 ? "v6" : ""} and reads the routers' errors (${code})`,
        code,
        { cause: err },
      );
    }
    throw environmentErrorFrom(err, `opening a raw ICMP${options.family === 6 ? "v6" : ""} socket`);
  }
}
