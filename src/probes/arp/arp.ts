import { intToIpv4, macToNumber, numberToMac, parseMac } from "../../addr/address";
import { formatIp, type IpAddress } from "../../addr/ip";
import { formatIpv6 } from "../../addr/ipv6";
import { type TargetSet, toTargetSet } from "../../addr/target-set";
import { Engine, type ProbeModule, type SendBatch, type SendResult } from "../../engine/engine";
import { type ProbeRun, probeRun } from "../../engine/probe-run";
import { ResultQueue } from "../../engine/result-queue";
import { type ProbeSteps, runProbe, runProbeBatches } from "../../engine/run-probe";
import { kernelDrops, summaryRecord } from "../../engine/summary";
import { EnvironmentError, environmentErrorFrom, UsageError } from "../../errors";
import { META_STRIDE, native } from "../../native/binding";
import type { LinkInfo, NativePacketSocket } from "../../native/types";
import { arpReplyFilter, neighborAdvertisementFilter } from "../../net/bpf";
import { findLink, HW_ETHERNET, listLinksAsync } from "../../net/links";
import { namespacePath } from "../../net/namespace";
import { firstAddressOf, type RouteDecision } from "../../net/route";
import { createRouteResolverAsync, type RouteResolver } from "../../net/route-resolver";
import {
  type ArpReplyView,
  REQUEST_FRAME_LENGTH,
  readArpReply,
  writeArpRequestFrame,
} from "../../packet/arp";
import {
  type NeighborAdvertisementView,
  readNeighborAdvertisement,
  SOLICITATION_FRAME_LENGTH,
  writeNeighborSolicitationFrame,
} from "../../packet/ndp";
import type { ArpRecord, SummaryRecord } from "../../records";

/**
 * Options of {@link arp}.
 *
 * @example
 * ```ts
 * import { type ArpOptions, arp } from "wireprobe";
 *
 * const controller = new AbortController();
 * const options: ArpOptions = { interface: "eth0", netns: "node1", timeoutMs: 500, retries: 2, signal: controller.signal };
 * setTimeout(() => controller.abort(), 10_000);
 * for await (const r of arp(["198.51.100.0/24"], options)) if (r.conflict) console.log(`${r.target}: ${r.macs.join(" ")}`);
 * ```
 */
export interface ArpOptions {
  /** send from this interface; default: the one the kernel's route lookup picks for each target */
  interface?: string;
  /** network namespace: a name from `ip netns` or a path such as /proc/PID/ns/net */
  netns?: string;
  /** how long to wait for a reply after each attempt, in ms (default 1000) */
  timeoutMs?: number;
  /** extra attempts for targets that did not answer (default 1) */
  retries?: number;
  /** requests per second; 0 = as fast as the interface takes them (default 1000) */
  rate?: number;
  /** with `interface`: ARP for targets that are not on-link there too (like arping -I / arp-scan -I) */
  anyLink?: boolean;
  /** the most addresses one IPv6 prefix or range among the targets may hold (default 65536, a /112) */
  ipv6Cap?: number;
  /** stops the sweep: the records of the targets already known, then the summary with `aborted: true` */
  signal?: AbortSignal;
}

/**
 * The defaults of {@link ArpOptions}.
 *
 * @example
 * ```ts
 * import { ARP_DEFAULTS, arp } from "wireprobe";
 *
 * // twice the default wait, for a slow segment
 * const run = arp(["198.51.100.0/24"], { timeoutMs: 2 * ARP_DEFAULTS.timeoutMs });
 * ```
 */
export const ARP_DEFAULTS = {
  /** wait for a reply after each attempt: 1000 ms */
  timeoutMs: 1000,
  /** one extra attempt */
  retries: 1,
  /** 1000 requests per second */
  rate: 1000,
} as const;

/** Largest sweep: a /12. ARP does not cross routers, and no layer-2 segment is bigger in practice. */
export const ARP_MAX_TARGETS = 1 << 20;

/** requests per send; a big batch goes to the kernel from a worker thread while this one reads the replies */
const BATCH = 512;
/**
 * batches up to this size are sent from this thread: the worker's hand-over costs more than it saves there,
 * and a send that returns before its replies are read gives their round trips from when it really began
 */
const SYNC_BATCH = 32;
/** replies from further MACs within this long after the first one make an address conflict */
export const CONFLICT_WINDOW_MS = 10;
/** frame bytes per family: an ARP request, a neighbour solicitation with its source link-layer option */
const FRAME_LEN = { 4: REQUEST_FRAME_LENGTH, 6: SOLICITATION_FRAME_LENGTH } as const;
const RCVBUF = 8 * 1024 * 1024;
/** records waiting for the reader before the sweep pauses for it */
const QUEUE_LIMIT = 4096;

// Per-target state in a Uint8Array: no object per address, so memory stays flat with the range size.
const IDLE = 0; // no request handed to the kernel (yet), or no request at all
const ASKED = 1; // a request went out (or is going out), no reply yet
const REPLIED = 2; // answered; the record waits out the conflict window
const DONE = 3; // record emitted

/**
 * A link, a source address and a family: ARP (4) or NDP neighbour solicitation (6), each on a packet socket
 * of the link with its own kernel filter.
 */
interface Channel {
  id: number;
  key: string;
  family: 4 | 6;
  link: LinkInfo;
  mac: Buffer;
  /** IPv4: the source address as a number (0 for none) */
  sourceIp: number;
  /** IPv6: the source address's 16 bytes */
  source6: Uint8Array | null;
  /** sourceIp as records give it, made once */
  sourceText: string;
  socket: NativePacketSocket;
}

/**
 * One target's outcome as the sweep knows it, in numbers. The edge makes what the caller gets of it: arp() a
 * public record, arpReplies() the replies alone.
 */
interface ArpOutcome {
  state: ArpRecord["state"];
  interface: string | null;
  /** replies: the MACs that answered, as 48-bit numbers, the first first */
  macs?: readonly number[];
  rttMs?: number | null;
  /** a link without ARP: no source address (else the channel's) */
  noSource?: boolean;
  /** not-on-link: the gateway the kernel would use */
  gateway?: IpAddress | null;
}

/** Where the outcome belongs: the target (its index in the set and its address), the channel's source, sends. */
interface OutcomeContext {
  index: number;
  family: 4 | 6;
  /** an IPv4 target's address (0 for an IPv6 one) */
  target: number;
  /** an IPv6 target's 16 bytes (a scratch buffer, valid during the call), null for an IPv4 one */
  target6: Uint8Array | null;
  /** the source address of the target's channel (0 when the link has none), null without a channel */
  source: number | null;
  /** the same as records give it, made once per channel (a sweep makes tens of thousands of records) */
  sourceText: string | null;
  sent: number;
}

/** Makes what a run yields of an outcome; undefined: nothing. */
type ArpEdge<T> = (outcome: ArpOutcome, at: OutcomeContext) => T | undefined;

/** The public edge: a record per target, addresses and MACs as text. */
function arpRecord(o: ArpOutcome, at: OutcomeContext): ArpRecord {
  const macs = o.macs ? o.macs.map(numberToMac) : [];
  // One literal, in the record's field order.
  return {
    type: "arp",
    target: at.target6 === null ? intToIpv4(at.target) : formatIpv6(at.target6),
    interface: o.interface,
    state: o.state,
    mac: macs[0] ?? null,
    macs,
    conflict: macs.length > 1,
    rttMs: o.rttMs ?? null,
    source: o.noSource ? null : at.sourceText,
    gateway: o.gateway ? formatIp(o.gateway) : null,
    sent: at.sent,
    protocol: at.family === 4 ? "arp" : "ndp",
  };
}

/**
 * A reply, in numbers: the target (index in the set, address) and the MAC that answered first (48 bits). An
 * IPv6 target (NDP) is known by its index (TargetSet.ipv6Into); its `target` is 0.
 */
export interface ArpReply {
  index: number;
  family: 4 | 6;
  target: number;
  mac: number;
}

function checkedSet(targets: string | readonly string[] | TargetSet, ipv6Cap: number | undefined): TargetSet {
  const set = toTargetSet(targets, ipv6Cap === undefined ? {} : { ipv6Cap });
  if (set.size === 0) throw new UsageError("no targets");
  if (set.size > ARP_MAX_TARGETS) {
    throw new UsageError(`too many targets for ARP (${set.size}; at most ${ARP_MAX_TARGETS}, a /12)`);
  }
  return set;
}

/**
 * ARP requests to every target: who answers at layer 2, with which MAC, and which targets the kernel would
 * not reach directly (not-on-link). Exactly one record per target. IPv6 targets get an NDP neighbour
 * solicitation instead (records with `protocol: "ndp"`); both families mix in one run. Records stream as they
 * are known; the sockets are closed when the iteration ends, also on a break or an abort.
 *
 * @example
 * ```ts
 * import { arp } from "wireprobe";
 *
 * const run = arp(["198.51.100.0/24", "2001:db8:a::11"], { netns: "node1", timeoutMs: 500, retries: 1 });
 * for await (const r of run) {
 *   if (r.state === "reply") console.log(r.target, r.mac, r.conflict ? "CONFLICT" : "");
 *   else if (r.state === "not-on-link") console.log(r.target, "is behind", r.gateway);
 * }
 * console.log(run.summary); // { type: "summary", command: "arp", ... }
 * ```
 */
export function arp(
  targets: string | readonly string[] | TargetSet,
  options: ArpOptions = {},
): ProbeRun<ArpRecord> {
  return probeRun(new ArpSweep(checkedSet(targets, options.ipv6Cap), options, arpRecord));
}

/**
 * The same sweep for code that computes with its answers (the scan's next hops): only the replies, as numbers,
 * with no record or text made. The summary is arp()'s.
 */
export function arpReplies(targets: TargetSet, options: ArpOptions = {}): ProbeRun<ArpReply> {
  return probeRun(
    new ArpSweep<ArpReply>(checkedSet(targets, options.ipv6Cap), options, (o, at) =>
      o.state === "reply" && o.macs
        ? { index: at.index, family: at.family, target: at.target, mac: o.macs[0]! }
        : undefined,
    ),
  );
}

/**
 * Every target's outcome, in numbers: what arp() says of it, without the text. For code that judges the
 * answers itself (the route gateways of `routes`, which keep their own addresses and links).
 */
export interface ArpAnswer {
  index: number;
  family: 4 | 6;
  state: ArpRecord["state"];
  /** the MACs that answered, as 48-bit numbers, the first first (several: an address conflict) */
  macs: readonly number[];
  rttMs: number | null;
  /** requests sent */
  sent: number;
  /** not-on-link: the gateway the kernel would use instead, null when it has no route through the link */
  gateway: IpAddress | null;
}

/** The same sweep as arp(), every target's outcome as an ArpAnswer. The summary is arp()'s. */
export function arpAnswers(targets: TargetSet, options: ArpOptions = {}): ProbeRun<ArpAnswer> {
  return probeRun(
    new ArpSweep<ArpAnswer>(checkedSet(targets, options.ipv6Cap), options, (o, at) => ({
      index: at.index,
      family: at.family,
      state: o.state,
      macs: o.macs ?? [],
      rttMs: o.rttMs ?? null,
      sent: at.sent,
      gateway: o.gateway ?? null,
    })),
  );
}

/**
 * The ARP probe module: one slot per target, target after target. A target the kernel would not reach
 * directly gets its record when the engine first asks for its channel; the others get a request on the
 * packet socket of their interface and source address.
 */
class ArpSweep<T> implements ProbeModule {
  summary: SummaryRecord | undefined;
  readonly targets: number;
  readonly items = 1;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly conflictWindowMs: number;
  private readonly state: Uint8Array;
  private readonly sentCount: Uint8Array;
  /** channel number + 1 for each target (0: none) */
  private readonly channelNo: Uint8Array;
  private readonly channels: Channel[] = [];
  /** first MAC that answered each target, as a 48-bit number (strings only for what is emitted) */
  private readonly replyMac: Float64Array;
  /** when that first reply arrived (kernel timestamp, monotonic ms) */
  private readonly replyAt: Float64Array;
  /** further MACs for the few targets that more than one host answers */
  private readonly extraMacs = new Map<number, number[]>();
  /** replied targets in the order of their first reply, not yet emitted (from heldHead on) */
  private held: number[] = [];
  private heldHead = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly view: ArpReplyView = {
    senderIp: 0,
    senderMacOffset: 0,
    targetIp: 0,
    targetMacOffset: 0,
    etherSrcOffset: 0,
  };
  private readonly naView: NeighborAdvertisementView = {
    targetOffset: 0,
    macOffset: 0,
    hasTargetLinkLayer: false,
    solicited: false,
    router: false,
    override: false,
  };
  private readonly frames = Buffer.alloc(BATCH * FRAME_LEN[6]);
  /** the first SYNC_BATCH frames of `frames` for each family's frame length, for the socket's own send */
  private readonly frameViews = {
    4: this.viewsOf(FRAME_LEN[4]),
    6: this.viewsOf(FRAME_LEN[6]),
  };
  /** an IPv6 target's address, written per use (no allocation per target) */
  private readonly target6 = new Uint8Array(16);
  private readonly queue = new ResultQueue<T>();
  private readonly counts: Record<string, number> = { reply: 0, "no-reply": 0, "not-on-link": 0, local: 0 };
  private engine: Engine | null = null;
  private start = 0;
  private packetsReceived = 0;
  private started = false;
  /** the engine's run has settled: what arrives now is after the records */
  private settled = false;
  private netns: string | undefined;
  private links: readonly LinkInfo[] = [];
  private fixedLink: LinkInfo | null = null;
  private resolver: RouteResolver | null = null;

  constructor(
    private readonly set: TargetSet,
    private readonly options: ArpOptions,
    private readonly edge: ArpEdge<T>,
  ) {
    this.targets = set.size;
    this.timeoutMs = options.timeoutMs ?? ARP_DEFAULTS.timeoutMs;
    this.retries = options.retries ?? ARP_DEFAULTS.retries;
    if (this.retries > 250) throw new UsageError("retries must be at most 250");
    // Two hosts answering for one address reply within microseconds to milliseconds of each other on one
    // segment; waiting a whole timeout for a possible second MAC would make every result slow.
    this.conflictWindowMs = Math.min(this.timeoutMs, CONFLICT_WINDOW_MS);
    this.state = new Uint8Array(set.size);
    this.sentCount = new Uint8Array(set.size);
    this.channelNo = new Uint8Array(set.size);
    this.replyMac = new Float64Array(set.size);
    this.replyAt = new Float64Array(set.size);
  }

  private viewsOf(frameLength: number): Buffer[] {
    return Array.from({ length: SYNC_BATCH }, (_, k) =>
      this.frames.subarray(k * frameLength, (k + 1) * frameLength),
    );
  }

  /** The IPv6 target i's 16 bytes, in the sweep's scratch buffer. */
  private ipv6Of(i: number): Uint8Array {
    this.set.ipv6Into(i, this.target6);
    return this.target6;
  }

  run(): AsyncGenerator<T> {
    return runProbe(this.queue, this.steps(), this.options.signal);
  }

  batches(): AsyncGenerator<T[]> {
    return runProbeBatches(this.queue, this.steps(), this.options.signal);
  }

  private steps(): ProbeSteps {
    if (this.started) throw new Error("an arp() run can be iterated only once");
    this.started = true;
    return {
      setup: () => this.setup(),
      drive: (stop) => this.drive(stop),
      close: () => this.closeAll(),
    };
  }

  private async setup(): Promise<void> {
    this.netns = namespacePath(this.options.netns);
    if (this.options.interface !== undefined) {
      // The link first (a list of links), then one resolver pinned to it: a routing table of 50,000 routes is
      // read once, not twice.
      const link = findLink(await listLinksAsync(this.netns), this.options.interface);
      if (link.hwType !== HW_ETHERNET) {
        throw new EnvironmentError(
          `interface "${link.name}" is not an Ethernet link; ARP needs one`,
          "EINVAL",
        );
      }
      if (!link.up) throw new EnvironmentError(`interface "${link.name}" is down`, "ENETDOWN");
      this.fixedLink = link;
      this.resolver = await createRouteResolverAsync(this.netns, { link });
    } else if (this.options.anyLink) {
      throw new UsageError("--any-link needs an interface (-i)");
    } else {
      this.resolver = await createRouteResolverAsync(this.netns);
    }
    this.links = this.resolver.links;
    this.start = native.monotonicMs();
  }

  private async drive(stop: AbortSignal): Promise<void> {
    const engine = new Engine(this, {
      order: "sequential",
      retries: this.retries,
      rate: this.options.rate ?? ARP_DEFAULTS.rate,
      batch: BATCH,
      // Each attempt waits the whole --timeout, as arping's and arp-scan's do: a target has one probe, so
      // there is no round trip of its own to adapt to.
      timeoutMs: this.timeoutMs,
      fixedTimeout: true,
      lingerMs: this.conflictWindowMs,
      signal: stop,
      room: () => this.queue.waitForRoom(QUEUE_LIMIT),
      now: native.monotonicMs,
    });
    this.engine = engine;
    let completed = false;
    try {
      completed = await engine.run();
    } finally {
      this.settled = true;
      this.stopFlushing();
    }
    this.flush(true);
    if (!completed) await this.reportAsked();
    this.summary = this.makeSummary(engine, !completed);
  }

  /** Interrupted: a target asked and not answered so far gets its no-reply ("before the interruption"). */
  private async reportAsked(): Promise<void> {
    for (let i = 0; i < this.targets; i++) {
      if (this.state[i] !== ASKED) continue;
      this.emit(i, { state: "no-reply", interface: this.channelOfTarget(i)!.link.name });
      if (this.queue.length > QUEUE_LIMIT) await this.queue.waitForRoom(QUEUE_LIMIT / 2);
    }
  }

  channelOf(i: number): number {
    const link = this.fixedLink;
    const family = this.set.familyAt(i);
    let decision: RouteDecision;
    if (link && this.options.anyLink) {
      const first = firstAddressOf(link, family);
      decision = {
        kind: "on-link",
        ifname: link.name,
        ifindex: link.index,
        source: first?.address ?? null,
        sourceIp: first?.ip ?? null,
      };
    } else {
      decision =
        family === 4 ? this.resolver!.resolve(this.set.at(i)) : this.resolver!.resolve6(this.ipv6Of(i));
    }
    switch (decision.kind) {
      case "on-link": {
        const l = this.links.find((x) => x.index === decision.ifindex);
        // The route's source is the kernel's choice for this target (link-local for a link-local one).
        const source =
          decision.sourceIp?.family === family
            ? decision.sourceIp
            : l
              ? firstAddressOf(l, family)?.ip
              : undefined;
        if (!l || l.hwType !== HW_ETHERNET || (family === 6 && !source)) {
          // Point-to-point and tunnel links have no ARP or NDP: nobody can answer there. A solicitation needs
          // a source address (from :: it would be a duplicate address probe).
          this.emit(i, { state: "no-reply", interface: decision.ifname, noSource: true });
          return 0;
        }
        const ch = this.channelFor(l, source ?? null);
        this.channelNo[i] = ch.id + 1;
        return ch.id + 1;
      }
      case "local":
        this.emit(i, { state: "local", interface: decision.ifname });
        return 0;
      case "via-gateway":
        this.emit(i, { state: "not-on-link", interface: decision.ifname, gateway: decision.gatewayIp });
        return 0;
      case "special":
        this.emit(i, {
          state: decision.routeType === "broadcast" ? "no-reply" : "not-on-link",
          interface: decision.ifname,
        });
        return 0;
      case "unreachable":
        this.emit(i, { state: "not-on-link", interface: link?.name ?? null });
        return 0;
      case "other-link": {
        // Pinned to an interface without a route for it: ARPing there would ask a segment it is not on.
        const route = decision.route;
        if (route.kind === "local") {
          this.emit(i, { state: "local", interface: route.ifname });
          return 0;
        }
        this.emit(i, {
          state: "not-on-link",
          interface: decision.ifname,
          gateway: route.kind === "via-gateway" ? route.gatewayIp : null,
        });
        return 0;
      }
    }
  }

  private channelFor(link: LinkInfo, source: IpAddress | null): Channel {
    const family = source?.family ?? 4;
    const key = `${link.index}/${source ? formatIp(source) : ""}`;
    const existing = this.channels.find((c) => c.key === key);
    if (existing) return existing;
    if (this.channels.length >= 255) throw new EnvironmentError("too many interfaces and source addresses");
    if (!link.mac) throw new EnvironmentError(`interface "${link.name}" has no MAC address`);
    const sourceIp = source?.family === 4 ? source.v4 : 0;
    const source6 = source?.family === 6 ? Uint8Array.from(source.bytes) : null;
    let socket: NativePacketSocket;
    try {
      socket = new native.PacketSocket({
        ifindex: link.index,
        protocol: family === 4 ? 0x0806 : 0x86dd,
        filter:
          family === 4
            ? arpReplyFilter(source === null ? null : sourceIp)
            : neighborAdvertisementFilter(source6),
        // A sweep's replies arrive while this thread is busy: room for a whole batch and more.
        rcvbuf: RCVBUF,
        ...(this.netns === undefined ? {} : { netns: this.netns }),
      });
    } catch (err) {
      throw environmentErrorFrom(err, `opening a packet socket on ${link.name}`);
    }
    const channel: Channel = {
      id: this.channels.length,
      key,
      family,
      link,
      mac: parseMac(link.mac),
      sourceIp,
      source6,
      sourceText: source6 === null ? intToIpv4(sourceIp) : formatIpv6(source6),
      socket,
    };
    this.channels.push(channel);
    // Send times from the kernel too: when the driver took a batch's first and last request (or, where the
    // kernel refuses, the engine's own times).
    socket.startTxTimestamps((ids, times, n) => this.engine!.txTimestamps(channel.id + 1, ids, times, n));
    socket.startReceive(
      (data, meta, count) => this.onPackets(channel, data, meta, count),
      (err) => this.engine!.fail(err),
    );
    return channel;
  }

  /**
   * Puts a batch on the wire: a big one from a libuv worker thread (on a veth the kernel's whole path to the
   * peer and back runs in the sending call, so this thread stays free to read replies), a small one at once.
   */
  send(batch: SendBatch): SendResult | Promise<SendResult> {
    const { count } = batch;
    const channel = this.channels[batch.channel - 1]!;
    const frameLength = FRAME_LEN[channel.family];
    for (let k = 0; k < count; k++) {
      const i = batch.slots[k]!;
      if (channel.family === 4) {
        writeArpRequestFrame(this.frames, k * frameLength, channel.mac, channel.sourceIp, this.set.at(i));
      } else {
        writeNeighborSolicitationFrame(
          this.frames,
          k * frameLength,
          channel.mac,
          channel.source6!,
          this.ipv6Of(i),
        );
      }
      // Replies may come back before the send reports: they must be taken.
      if (this.state[i] === IDLE) this.state[i] = ASKED;
    }
    if (count <= SYNC_BATCH) {
      const startMs = native.monotonicMs();
      let sent: number;
      try {
        const views = this.frameViews[channel.family];
        sent = channel.socket.send(count === SYNC_BATCH ? views : views.slice(0, count));
      } catch (err) {
        throw environmentErrorFrom(err, `sending on ${channel.link.name}`);
      }
      const endMs = native.monotonicMs();
      this.sentReport(batch.slots, count, sent);
      return { sent, startMs, endMs, firstTxId: channel.socket.lastSendTxId };
    }
    // The engine reuses batch.slots once this returns; the report comes later.
    const slots = batch.slots.slice(0, count);
    const startMs = native.monotonicMs();
    return new Promise<SendResult>((resolve, reject) => {
      // The TX id is known now: replies that beat the send's report are timed by the kernel already.
      batch.firstTxId = native.sendFramesAsync(
        channel.socket.fd,
        this.frames,
        frameLength,
        count,
        (err, n, doneMs, firstTxId) => {
          if (err && !(err.code === "EAGAIN" || err.code === "ENOBUFS")) {
            reject(environmentErrorFrom(err, `sending on ${channel.link.name}`));
            return;
          }
          const sent = err ? (err.sent ?? n) : n;
          this.sentReport(slots, count, sent);
          resolve({ sent, startMs, endMs: doneMs, firstTxId });
          this.flush(false);
        },
      );
    });
  }

  /** The first `sent` of a batch's `count` requests went out; the others are as if never asked. */
  private sentReport(slots: Int32Array, count: number, sent: number): void {
    for (let k = 0; k < count; k++) {
      const i = slots[k]!;
      if (k < sent) {
        if (this.sentCount[i]! < 255) this.sentCount[i]!++;
      } else if (this.state[i] === ASKED && this.sentCount[i] === 0) {
        this.state[i] = IDLE;
      }
    }
  }

  unanswered(i: number): void {
    // The replies still held are due by now (the engine lingers): they go first, as they came first.
    if (this.heldHead < this.held.length) this.flush(false);
    this.emit(i, { state: "no-reply", interface: this.channelOfTarget(i)!.link.name });
  }

  private onPackets(channel: Channel, data: Buffer, meta: Float64Array, count: number): void {
    if (this.settled) return;
    for (let p = 0; p < count; p++) {
      const offset = meta[p * META_STRIDE]!;
      const length = meta[p * META_STRIDE + 1]!;
      let i: number;
      let macOffset: number;
      if (channel.family === 4) {
        const reply = readArpReply(data, offset, length, this.view);
        if (reply === null) continue;
        i = this.set.indexOf(reply.senderIp);
        macOffset = reply.senderMacOffset;
      } else {
        // The hop limit, checksum and options are checked here (RFC 4861 7.1.2); the kernel filter let
        // through only advertisements to our source.
        const na = readNeighborAdvertisement(data, offset, length, this.naView);
        if (na === null) continue;
        i = this.set.indexOfIpv6(data, na.targetOffset);
        macOffset = na.macOffset;
      }
      if (i < 0 || this.channelNo[i]! - 1 !== channel.id) continue;
      const st = this.state[i]!;
      // Anything else is unsolicited, or a late duplicate after the record went out.
      if (st !== ASKED && st !== REPLIED) continue;
      this.packetsReceived++;
      const mac = macToNumber(data, macOffset);
      if (st === REPLIED) {
        if (mac !== this.replyMac[i]) {
          const extra = this.extraMacs.get(i) ?? [];
          if (!extra.includes(mac)) extra.push(mac);
          this.extraMacs.set(i, extra);
        }
        continue;
      }
      const at = meta[p * META_STRIDE + 2]!;
      this.engine!.answer(i, at);
      this.replyMac[i] = mac;
      this.replyAt[i] = at;
      this.state[i] = REPLIED;
      this.held.push(i);
    }
    this.flush(false);
  }

  /**
   * Emits the replies whose conflict window has passed (all of them when `all`), and keeps a timer for the
   * next one, so records stream while the engine waits.
   */
  private flush(all: boolean): void {
    const due = native.monotonicMs() - this.conflictWindowMs;
    const held = this.held;
    while (this.heldHead < held.length && (all || this.replyAt[held[this.heldHead]!]! <= due)) {
      // A reply that beat the end of its own batch waits for the batch's report (its `sent` count).
      if (!all && this.sentCount[held[this.heldHead]!] === 0) return;
      this.emitReply(held[this.heldHead++]!);
    }
    if (this.heldHead > 4096 && this.heldHead * 2 > held.length) {
      this.held = held.slice(this.heldHead);
      this.heldHead = 0;
    }
    if (this.heldHead < this.held.length && this.flushTimer === null && !all && !this.settled) {
      const wait = this.replyAt[this.held[this.heldHead]!]! - due;
      this.flushTimer = setTimeout(
        () => {
          this.flushTimer = null;
          this.flush(false);
        },
        Math.max(1, Math.ceil(wait)),
      );
    }
  }

  private stopFlushing(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  private emitReply(i: number): void {
    const first = this.replyMac[i]!;
    const extra = this.extraMacs.get(i);
    const macs = extra ? [first, ...extra] : [first];
    if (extra) this.extraMacs.delete(i);
    // Asked now, not when the reply came: a send on a worker thread has reported its times by now.
    const rtt = this.replyAt[i]! - this.engine!.sentAt(i);
    this.emit(i, {
      state: "reply",
      interface: this.channelOfTarget(i)!.link.name,
      macs,
      rttMs: Number.isNaN(rtt) ? null : Math.round(Math.max(0, rtt) * 1000) / 1000,
    });
  }

  private channelOfTarget(i: number): Channel | undefined {
    const c = this.channelNo[i]!;
    return c === 0 ? undefined : this.channels[c - 1];
  }

  private makeSummary(engine: Engine, aborted: boolean): SummaryRecord {
    const durationMs = native.monotonicMs() - this.start;
    const sent = engine.counters.sent;
    return summaryRecord({
      command: "arp",
      targets: this.targets,
      states: this.counts,
      packetsSent: sent,
      packetsReceived: this.packetsReceived,
      packetsDropped: kernelDrops(...this.channels.map((c) => c.socket)),
      durationMs,
      aborted,
    });
  }

  private emit(i: number, outcome: ArpOutcome): void {
    const ch = this.channelOfTarget(i);
    this.state[i] = DONE;
    this.counts[outcome.state] = (this.counts[outcome.state] ?? 0) + 1;
    const family = this.set.familyAt(i);
    const item = this.edge(outcome, {
      index: i,
      family,
      target: family === 4 ? this.set.at(i) : 0,
      target6: family === 4 ? null : this.ipv6Of(i),
      source: ch ? ch.sourceIp : null,
      sourceText: ch ? ch.sourceText : null,
      sent: this.sentCount[i]!,
    });
    if (item !== undefined) this.queue.push(item);
  }

  private closeAll(): void {
    this.stopFlushing();
    for (const c of this.channels) c.socket.close();
    this.resolver?.close();
  }
}
