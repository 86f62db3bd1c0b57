import { randomFillSync } from "node:crypto";
import { intToIpv4 } from "../../addr/address";
import { PackedAddresses } from "../../addr/ip";
import { formatIpv6 } from "../../addr/ipv6";
import { type TargetSet, toTargetSet } from "../../addr/target-set";
import { Engine, type ProbeModule, type SendBatch, type SendResult } from "../../engine/engine";
import type { ProbeRun } from "../../engine/probe-run";
import { ResultQueue } from "../../engine/result-queue";
import { runProbe } from "../../engine/run-probe";
import { kernelDrops, summaryRecord } from "../../engine/summary";
import { EnvironmentError, UsageError } from "../../errors";
import { META_STRIDE, native } from "../../native/binding";
import type { NativeError } from "../../native/types";
import { icmpErrorVerdict, icmpv6ErrorVerdict, sendErrorReason } from "../../net/icmp-errors";
import { findLink, listLinksAsync } from "../../net/links";
import { namespacePath } from "../../net/namespace";
import { SendRefusals } from "../../net/refused-route";
import { internetChecksum } from "../../packet/checksum";
import * as icmp from "../../packet/icmp";
import * as icmpv6 from "../../packet/icmpv6";
import * as ipv4 from "../../packet/ipv4";
import type { PingRecord, SummaryRecord } from "../../records";
import { openPingSocket, type PingMode, type PingSocket } from "./ping-socket";

/**
 * Options of {@link ping}.
 *
 * @example
 * ```ts
 * import { type PingOptions, ping } from "wireprobe";
 *
 * const options: PingOptions = { count: 5, intervalMs: 100, timeoutMs: 500, mode: "dgram", netns: "pod" };
 * for await (const r of ping(["198.51.100.1", "2001:db8::1"], options)) console.log(r.target, r.state, r.rttMs?.avg);
 * ```
 */
export interface PingOptions {
  /** echo requests per target (default 3) */
  count?: number;
  /** ms between the requests to one target (default 200) */
  intervalMs?: number;
  /** ms to wait for replies after the last request (default 1000) */
  timeoutMs?: number;
  /** requests per second over all targets; 0 = unlimited (default 1000) */
  rate?: number;
  /** send out of this interface (SO_BINDTODEVICE) */
  interface?: string;
  /** network namespace: a name from `ip netns` or a path such as /proc/PID/ns/net */
  netns?: string;
  /**
   * raw: a raw ICMP socket (root / CAP_NET_RAW; sees ICMP errors); dgram: an unprivileged ICMP datagram
   * socket (net.ipv4.ping_group_range; the kernel hides ICMP errors from it, so no `unreachable` from
   * routers); auto (default): raw where permitted, else dgram
   */
  mode?: PingMode | "auto";
  /** the most addresses one IPv6 prefix or range among the targets may hold (default 65536, a /112) */
  ipv6Cap?: number;
  /** stops the pings: a record for every target with what arrived, then the summary with `aborted: true` */
  signal?: AbortSignal;
}

/**
 * The defaults of {@link PingOptions}.
 *
 * @example
 * ```ts
 * import { PING_DEFAULTS, ping } from "wireprobe";
 *
 * const run = ping("198.51.100.0/28", { count: PING_DEFAULTS.count * 2 });
 * ```
 */
export const PING_DEFAULTS = {
  /** 3 echo requests per target */
  count: 3,
  /** 200 ms between the requests to one target */
  intervalMs: 200,
  /** wait 1000 ms for replies after the last request */
  timeoutMs: 1000,
  /** 1000 requests per second over all targets */
  rate: 1000,
} as const;
export const PING_MAX_TARGETS = 1 << 20;
const MAX_PROBES = 1 << 27;
const BATCH = 64;
const PAYLOAD = 56; // as ping: 64-byte ICMP messages
/** channels: the IPv4 socket's and the IPv6 socket's (each its own TX timestamp ids) */
const CHANNEL_V4 = 1;
const CHANNEL_V6 = 2;
/** random per run, at the start of every request's payload: a reply that echoes it answers this run */
const MAGIC_LENGTH = 8;
/** records waiting for the reader before the run pauses for it */
const QUEUE_LIMIT = 4096;

/**
 * A running {@link ping}: a ProbeRun of ping records that also tells which socket it used.
 *
 * @example
 * ```ts
 * import { type PingRun, ping } from "wireprobe";
 *
 * const run: PingRun = ping(["198.51.100.0/28"], { netns: "pod" });
 * for await (const p of run) if (p.state === "reply") console.log(p.target, p.rttMs?.avg);
 * console.log(run.mode); // "raw", or "dgram" without CAP_NET_RAW
 * ```
 */
export interface PingRun extends ProbeRun<PingRecord> {
  /** the socket the run used (raw or dgram), once it has started; undefined before */
  readonly mode: PingMode | undefined;
}

/**
 * ICMP echo to every target, `count` times: exactly one record per target, reply / no-reply / unreachable,
 * with round-trip statistics. Targets are IPv4 or IPv6 addresses, prefixes or ranges, of both families in one
 * run (ICMPv6 echo to the IPv6 ones).
 *
 * @example
 * ```ts
 * import { ping } from "wireprobe";
 *
 * for await (const p of ping(["198.51.100.0/28"], { netns: "pod", count: 2 })) {
 *   if (p.state === "reply") console.log(p.target, `${p.received}/${p.sent}`, p.rttMs?.avg);
 *   else if (p.state === "unreachable") console.log(p.target, p.reason, "from", p.from);
 * }
 * ```
 */
export function ping(targets: string | readonly string[] | TargetSet, options: PingOptions = {}): PingRun {
  const set = toTargetSet(targets, options.ipv6Cap === undefined ? {} : { ipv6Cap: options.ipv6Cap });
  if (set.size === 0) throw new UsageError("no targets");
  if (set.size > PING_MAX_TARGETS)
    throw new UsageError(`too many targets (${set.size}; at most ${PING_MAX_TARGETS})`);
  const run = new PingSweep(set, options);
  return {
    get summary() {
      return run.summary;
    },
    get mode() {
      return run.mode;
    },
    [Symbol.asyncIterator]: () => run.run(),
  };
}

/**
 * The ping probe module: `count` slots per target, one per sequence number, sent round after round. A
 * target's record is made once each of its requests is settled: answered (a reply or an ICMP error),
 * refused by the kernel, or unanswered after its wait.
 */
class PingSweep implements ProbeModule {
  summary: SummaryRecord | undefined;
  mode: PingMode | undefined;
  readonly targets: number;
  /** requests per target (the sequence numbers 0..count-1) */
  readonly items: number;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly sent: Uint16Array;
  private readonly received: Uint16Array;
  private readonly errors: Uint16Array;
  private readonly dups: Uint16Array;
  /** requests settled per target; its record is made when all are */
  private readonly settledCount: Uint16Array;
  private readonly rttCount: Uint16Array;
  private readonly rttMin: Float64Array;
  private readonly rttMax: Float64Array;
  private readonly rttSum: Float64Array;
  /** reason number + 1 (0: none) and the ICMP sender of the first error, per target (IPv6: its text) */
  private readonly reason: Uint8Array;
  private readonly from: Float64Array;
  private readonly from6 = new Map<number, string>();
  private readonly emitted: Uint8Array;
  /** one bit per slot: the request went out (only those can be answered) */
  private readonly requested: Uint8Array;
  /** one bit per slot: a reply came (a second one is a duplicate) */
  private readonly replied: Uint8Array;
  private readonly reasons: string[] = [];
  private readonly queue = new ResultQueue<PingRecord>();
  private readonly counts: Record<string, number> = { reply: 0, "no-reply": 0, unreachable: 0 };
  private readonly magic = randomFillSync(Buffer.alloc(MAGIC_LENGTH));
  private readonly packets = Array.from({ length: BATCH }, () => Buffer.alloc(icmp.HEADER_LENGTH + PAYLOAD));
  private readonly packets6 = Array.from({ length: BATCH }, () =>
    Buffer.alloc(icmpv6.HEADER_LENGTH + PAYLOAD),
  );
  /** each batch's destinations, packed for the socket */
  private readonly destinations = new PackedAddresses(4, BATCH);
  private readonly destinations6 = new PackedAddresses(6, BATCH);
  /** scratch for an IPv6 target's address */
  private readonly address6 = new Uint8Array(16);
  private engine: Engine | null = null;
  /** the ICMP socket (IPv4 targets) and the ICMPv6 socket (IPv6 targets), each opened when needed */
  private sock: PingSocket | null = null;
  private sock6: PingSocket | null = null;
  private refusals: SendRefusals | null = null;
  private packetsReceived = 0;
  private start = 0;
  private started = false;

  constructor(
    private readonly set: TargetSet,
    private readonly options: PingOptions,
  ) {
    const count = options.count ?? PING_DEFAULTS.count;
    this.intervalMs = options.intervalMs ?? PING_DEFAULTS.intervalMs;
    this.timeoutMs = options.timeoutMs ?? PING_DEFAULTS.timeoutMs;
    if (!Number.isInteger(count) || count < 1 || count > 65535) {
      throw new UsageError("count must be 1 to 65535");
    }
    if (!(this.intervalMs >= 0) || !(this.timeoutMs >= 1)) throw new UsageError("bad interval or timeout");
    if (set.size * count > MAX_PROBES) {
      throw new UsageError(`too many requests (${set.size} targets x ${count}; at most ${MAX_PROBES})`);
    }
    const n = set.size;
    this.targets = n;
    this.items = count;
    this.sent = new Uint16Array(n);
    this.received = new Uint16Array(n);
    this.errors = new Uint16Array(n);
    this.dups = new Uint16Array(n);
    this.settledCount = new Uint16Array(n);
    this.rttCount = new Uint16Array(n);
    this.rttMin = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
    this.rttMax = new Float64Array(n);
    this.rttSum = new Float64Array(n);
    this.reason = new Uint8Array(n);
    this.from = new Float64Array(n).fill(-1);
    this.emitted = new Uint8Array(n);
    this.requested = new Uint8Array(Math.ceil((n * count) / 8));
    this.replied = new Uint8Array(this.requested.length);
    for (const p of this.packets) this.writeTemplate(p, icmp.TYPE_ECHO_REQUEST);
    for (const p of this.packets6) this.writeTemplate(p, icmpv6.TYPE_ECHO_REQUEST);
  }

  run(): AsyncGenerator<PingRecord> {
    if (this.started) throw new Error("a ping() run can be iterated only once");
    this.started = true;
    return runProbe(
      this.queue,
      {
        setup: () => this.setup(),
        drive: (stop) => this.drive(stop),
        close: () => {
          this.sock?.socket.close();
          this.sock6?.socket.close();
          this.refusals?.close();
        },
      },
      this.options.signal,
    );
  }

  private async setup(): Promise<void> {
    const netns = namespacePath(this.options.netns);
    this.refusals = new SendRefusals(netns);
    const device = this.options.interface;
    if (device !== undefined) {
      const link = findLink(await listLinksAsync(netns), device);
      if (!link.up) throw new EnvironmentError(`interface "${link.name}" is down`, "ENETDOWN");
    }
    const common = {
      ...(netns === undefined ? {} : { netns }),
      ...(device === undefined ? {} : { device }),
      mode: this.options.mode ?? "auto",
    };
    if (this.set.size4 > 0) this.sock = openPingSocket({ ...common, family: 4 });
    if (this.set.size6 > 0) this.sock6 = openPingSocket({ ...common, family: 6 });
    this.mode = (this.sock ?? this.sock6)!.mode;
    this.start = native.monotonicMs();
  }

  private async drive(stop: AbortSignal): Promise<void> {
    const engine = new Engine(this, {
      order: "rounds",
      retries: 0,
      rate: this.options.rate ?? PING_DEFAULTS.rate,
      batch: BATCH,
      // As ping -W: every request waits the whole timeout, however late its reply.
      timeoutMs: this.timeoutMs,
      fixedTimeout: true,
      roundGapMs: this.intervalMs,
      signal: stop,
      room: () => this.queue.waitForRoom(QUEUE_LIMIT),
      now: native.monotonicMs,
    });
    this.engine = engine;
    // Send times from the kernel, as the replies' are (where it refuses, the engine's own times).
    const sock = this.sock;
    if (sock !== null) {
      sock.socket.startTxTimestamps((ids, times, n) => engine.txTimestamps(CHANNEL_V4, ids, times, n));
      sock.socket.startReceive(
        (data, meta, count) => this.onPackets(data, meta, count),
        (err) => engine.fail(err),
      );
    }
    const sock6 = this.sock6;
    if (sock6 !== null) {
      sock6.socket.startTxTimestamps((ids, times, n) => engine.txTimestamps(CHANNEL_V6, ids, times, n));
      sock6.socket.startReceive(
        (data, meta, count) => this.onPackets6(data, meta, count),
        (err) => engine.fail(err),
      );
    }
    const completed = await engine.run();
    if (!completed) {
      // Interrupted: every target gets the record of what it got so far.
      for (let i = 0; i < this.targets; i++) {
        if (this.emitted[i] === 0) this.emit(i);
        if (this.queue.length > QUEUE_LIMIT) await this.queue.waitForRoom(QUEUE_LIMIT / 2);
      }
    }
    const durationMs = native.monotonicMs() - this.start;
    this.summary = summaryRecord({
      command: "ping",
      targets: this.targets,
      states: this.counts,
      packetsSent: engine.counters.sent,
      packetsReceived: this.packetsReceived,
      packetsDropped: kernelDrops(this.sock?.socket) + kernelDrops(this.sock6?.socket),
      durationMs,
      aborted: !completed,
    });
  }

  channelOf(target: number): number {
    return target < this.set.size4 ? CHANNEL_V4 : CHANNEL_V6;
  }

  /** Sends a batch of echo requests; a request the kernel refuses gives its target the reason. */
  send(batch: SendBatch): SendResult {
    const { slots, count } = batch;
    const v6 = batch.channel === CHANNEL_V6;
    const sock = v6 ? this.sock6! : this.sock!;
    const socket = sock.socket;
    const items = this.items;
    const packets = (v6 ? this.packets6 : this.packets).slice(0, count);
    const destinations = v6 ? this.destinations6 : this.destinations;
    for (let k = 0; k < count; k++) {
      const slot = slots[k]!;
      const target = Math.floor(slot / items);
      if (v6) {
        // The kernel computes the ICMPv6 checksum (raw and datagram sockets alike): none to write.
        this.writeRequest(packets[k]!, sock.id, slot - target * items, false);
        this.set.ipv6Into(target, destinations.buffer, k * 16);
      } else {
        this.writeRequest(packets[k]!, sock.id, slot - target * items, true);
        destinations.setV4(k, this.set.at(target));
      }
    }
    const startMs = native.monotonicMs();
    let sent: number;
    let failed: NativeError | null = null;
    try {
      sent = socket.send(packets, destinations.view(count));
    } catch (err) {
      failed = err as NativeError;
      sent = failed.sent ?? 0;
    }
    const endMs = native.monotonicMs();
    for (let k = 0; k < sent; k++) {
      const slot = slots[k]!;
      this.requested[slot >> 3]! |= 1 << (slot & 7);
      this.sent[Math.floor(slot / items)]!++;
    }
    const firstTxId = socket.lastSendTxId;
    if (failed === null) return { sent, startMs, endMs, firstTxId };
    // The kernel refused this one: the reason is the answer, named by the route that refused it
    // (blackhole, prohibit, unreachable, broadcast: the kernel pings a broadcast address only with -b)
    // where a route did, else by the errno.
    const slot = slots[sent]!;
    const i = Math.floor(slot / items);
    const routeType = v6 ? null : (this.refusals?.routeType(this.set.at(i)) ?? null);
    this.noteReason(i, routeType ?? sendErrorReason(failed.code), -1);
    if (this.engine!.answer(slot, endMs) !== -1) this.settle(i);
    return { sent, refused: 1, startMs, endMs, firstTxId };
  }

  unanswered(slot: number): void {
    this.settle(Math.floor(slot / this.items));
  }

  /** What every request has: type, the run's magic, zeros. */
  private writeTemplate(buf: Buffer, type: number): void {
    buf.fill(0);
    buf[0] = type;
    this.magic.copy(buf, icmp.HEADER_LENGTH);
  }

  private writeRequest(buf: Buffer, id: number, seq: number, checksum: boolean): void {
    buf.writeUInt16BE(0, 2);
    buf.writeUInt16BE(id, 4);
    buf.writeUInt16BE(seq, 6);
    if (checksum) buf.writeUInt16BE(internetChecksum(buf, 0, buf.length), 2);
  }

  private onPackets(data: Buffer, meta: Float64Array, count: number): void {
    for (let p = 0; p < count; p++) {
      const base = p * META_STRIDE;
      const offset = meta[base]!;
      const length = meta[base + 1]!;
      try {
        if (this.sock!.mode === "raw") {
          const ip = ipv4.decode(data, offset, length, { verifyChecksum: false, allowTruncated: true });
          if (ip.protocol !== ipv4.PROTOCOL_ICMP) continue;
          this.onIcmp(data, ip.payloadOffset, ip.payloadLength, ip.srcInt, meta[base + 2]!);
        } else {
          this.onIcmp(data, offset, length, meta[base + 3]!, meta[base + 2]!);
        }
      } catch {
        // Malformed: not ours to understand.
      }
    }
  }

  /** The ICMPv6 messages of a batch from the IPv6 socket (raw or datagram: no IPv6 header either way). */
  private onPackets6(data: Buffer, meta: Float64Array, count: number): void {
    for (let p = 0; p < count; p++) {
      const base = p * META_STRIDE;
      try {
        this.onIcmp6(data, meta[base]!, meta[base + 1]!, meta[base + 3]!, meta[base + 2]!);
      } catch {
        // Malformed: not ours to understand.
      }
    }
  }

  private onIcmp6(data: Buffer, offset: number, length: number, sourceOffset: number, at: number): void {
    const msg = icmpv6.decode(data, offset, length);
    const sock = this.sock6!;
    if (msg.kind === "echo-reply") {
      if (sock.mode === "raw" && msg.id !== sock.id) return;
      if (msg.payloadLength < MAGIC_LENGTH) return;
      if (!this.magic.equals(data.subarray(msg.payloadOffset, msg.payloadOffset + MAGIC_LENGTH))) return;
      const slot = this.slotOf(this.set.indexOfIpv6(data, sourceOffset), msg.seq);
      if (slot < 0) return;
      this.packetsReceived++;
      this.onReply(slot, at);
      return;
    }
    if (msg.kind !== "destination-unreachable" && msg.kind !== "time-exceeded") return;
    const o = msg.original;
    if (o.ipv6.protocol !== 58 || o.icmpType !== icmpv6.TYPE_ECHO_REQUEST) return;
    if (o.icmpId !== sock.id || o.icmpSeq === null) return;
    const slot = this.slotOf(this.set.indexOfIpv6(o.ipv6.dstBytes, 0), o.icmpSeq);
    if (slot < 0) return;
    const verdict = icmpv6ErrorVerdict(msg.type, msg.code);
    if (verdict === null) return;
    this.packetsReceived++;
    const i = Math.floor(slot / this.items);
    if (this.errors[i]! < 0xffff) this.errors[i]!++;
    if (this.reason[i] === 0) this.from6.set(i, formatIpv6(data, sourceOffset));
    this.noteReason(i, verdict.reason, -1);
    if (this.engine!.answer(slot, at) !== -1) this.settle(i);
  }

  /** The slot of target address `address`, sequence `seq`, if its request went out; else -1. */
  private requestedSlot(address: number, seq: number): number {
    return this.slotOf(this.set.indexOf(address), seq);
  }

  /** The slot of target `i`, sequence `seq`, if its request went out; else -1. */
  private slotOf(i: number, seq: number): number {
    if (seq >= this.items || i < 0) return -1;
    const slot = i * this.items + seq;
    return (this.requested[slot >> 3]! & (1 << (slot & 7))) !== 0 ? slot : -1;
  }

  private onIcmp(data: Buffer, offset: number, length: number, source: number, at: number): void {
    const msg = icmp.decode(data, offset, length);
    if (msg.kind === "echo-reply") {
      // The datagram socket's identifier is checked by the kernel; the raw socket's by the filter and here.
      if (this.sock!.mode === "raw" && msg.id !== this.sock!.id) return;
      if (msg.payloadLength < MAGIC_LENGTH) return;
      if (!this.magic.equals(data.subarray(msg.payloadOffset, msg.payloadOffset + MAGIC_LENGTH))) return;
      const slot = this.requestedSlot(source, msg.seq);
      if (slot < 0) return;
      this.packetsReceived++;
      this.onReply(slot, at);
      return;
    }
    if (msg.kind !== "destination-unreachable" && msg.kind !== "time-exceeded") return;
    const o = msg.original;
    if (o.ipv4.protocol !== ipv4.PROTOCOL_ICMP || o.icmpType !== icmp.TYPE_ECHO_REQUEST) return;
    if (o.icmpId !== this.sock!.id || o.icmpSeq === null) return;
    const slot = this.requestedSlot(o.ipv4.dstInt, o.icmpSeq);
    if (slot < 0) return;
    const verdict = icmpErrorVerdict(msg.type, msg.code);
    if (verdict === null) return;
    this.packetsReceived++;
    const i = Math.floor(slot / this.items);
    if (this.errors[i]! < 0xffff) this.errors[i]!++;
    this.noteReason(i, verdict.reason, source);
    if (this.engine!.answer(slot, at) !== -1) this.settle(i);
  }

  private onReply(slot: number, at: number): void {
    const i = Math.floor(slot / this.items);
    const mask = 1 << (slot & 7);
    if ((this.replied[slot >> 3]! & mask) !== 0) {
      if (this.dups[i]! < 0xffff) this.dups[i]!++;
      return;
    }
    this.replied[slot >> 3]! |= mask;
    this.received[i]!++;
    // -1: an ICMP error settled this request first; the reply still counts, its time does not.
    const rtt = this.engine!.answer(slot, at);
    if (rtt >= 0) {
      this.rttCount[i]!++;
      this.rttSum[i]! += rtt;
      if (rtt < this.rttMin[i]!) this.rttMin[i] = rtt;
      if (rtt > this.rttMax[i]!) this.rttMax[i] = rtt;
    }
    if (rtt !== -1) this.settle(i);
  }

  private settle(i: number): void {
    if (++this.settledCount[i]! === this.items && this.emitted[i] === 0) this.emit(i);
  }

  private noteReason(i: number, reason: string, source: number): void {
    if (this.reason[i] !== 0) return;
    let r = this.reasons.indexOf(reason);
    if (r < 0) {
      if (this.reasons.length >= 255) return;
      r = this.reasons.push(reason) - 1;
    }
    this.reason[i] = r + 1;
    this.from[i] = source;
  }

  private emit(i: number): void {
    this.emitted[i] = 1;
    const received = this.received[i]!;
    const reason = this.reason[i]! > 0 ? this.reasons[this.reason[i]! - 1]! : null;
    const state: PingRecord["state"] = received > 0 ? "reply" : reason !== null ? "unreachable" : "no-reply";
    const round = (x: number) => Math.round(x * 1000) / 1000;
    const samples = this.rttCount[i]!;
    const v4 = i < this.set.size4;
    let target: string;
    if (v4) target = intToIpv4(this.set.at(i));
    else {
      this.set.ipv6Into(i, this.address6);
      target = formatIpv6(this.address6);
    }
    const from = v4 ? (this.from[i]! >= 0 ? intToIpv4(this.from[i]!) : null) : (this.from6.get(i) ?? null);
    const record: PingRecord = {
      type: "ping",
      target,
      state,
      sent: this.sent[i]!,
      received,
      rttMs:
        samples > 0
          ? {
              min: round(this.rttMin[i]!),
              avg: round(this.rttSum[i]! / samples),
              max: round(this.rttMax[i]!),
            }
          : null,
      errors: this.errors[i]!,
      duplicates: this.dups[i]!,
      reason: state === "unreachable" ? reason : null,
      from: state === "unreachable" ? from : null,
    };
    this.counts[state] = (this.counts[state] ?? 0) + 1;
    this.queue.push(record);
  }
}
