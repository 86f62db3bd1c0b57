import { randomFillSync } from "node:crypto";
import { intToIpv4 } from "../../addr/address";
import { type TargetSet, toTargetSet } from "../../addr/target-set";
import { Pacer } from "../../engine/pacer";
import type { ProbeRun } from "../../engine/probe-run";
import { ResultQueue } from "../../engine/result-queue";
import { runProbe } from "../../engine/run-probe";
import { EnvironmentError, UsageError } from "../../errors";
import { META_STRIDE, native } from "../../native/binding";
import type { NativeError } from "../../native/types";
import { icmpErrorVerdict, sendErrorReason } from "../../net/icmp-errors";
import { findLink, listLinks } from "../../net/links";
import { namespacePath } from "../../net/namespace";
import { SendRefusals } from "../../net/refused-route";
import { internetChecksum } from "../../packet/checksum";
import * as icmp from "../../packet/icmp";
import * as ipv4 from "../../packet/ipv4";
import type { PingRecord, SummaryRecord } from "../../records";
import { openPingSocket, type PingMode, type PingSocket } from "./ping-socket";

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
  signal?: AbortSignal;
}

export const PING_DEFAULTS = { count: 3, intervalMs: 200, timeoutMs: 1000, rate: 1000 } as const;
export const PING_MAX_TARGETS = 1 << 20;
const MAX_PROBES = 1 << 27;
const BATCH = 64;
const PAYLOAD = 56; // as ping: 64-byte ICMP messages
const MAGIC_LENGTH = 8;
const STAMP_AT = 8; // payload offset of the send time (float64, monotonic ms)

/** The mode a ping() run used, once it has started (for the CLI's notes). */
export interface PingRun extends ProbeRun<PingRecord> {
  readonly mode: PingMode | undefined;
}

/**
 * ICMP echo to every target, `count` times: exactly one record per target, reply / no-reply / unreachable,
 * with round-trip statistics. Targets are IPv4 addresses, CIDRs or ranges.
 */
export function ping(targets: string | readonly string[] | TargetSet, options: PingOptions = {}): PingRun {
  const set = toTargetSet(targets);
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

class PingSweep {
  summary: SummaryRecord | undefined;
  mode: PingMode | undefined;
  private readonly count: number;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly n: number;
  private readonly sent: Uint16Array;
  private readonly received: Uint16Array;
  private readonly errors: Uint16Array;
  private readonly dups: Uint16Array;
  private readonly rttMin: Float64Array;
  private readonly rttMax: Float64Array;
  private readonly rttSum: Float64Array;
  /** reason number + 1 (0: none) and the ICMP sender of the first error, per target */
  private readonly reason: Uint8Array;
  private readonly from: Float64Array;
  private readonly emitted: Uint8Array;
  /** one bit per (target, sequence): a reply or an error came for that request */
  private readonly answered: Uint8Array;
  /** one bit per (target, sequence): a reply came (a second one is a duplicate) */
  private readonly replied: Uint8Array;
  private readonly reasons: string[] = [];
  private readonly queue = new ResultQueue<PingRecord>();
  private readonly counts: Record<string, number> = { reply: 0, "no-reply": 0, unreachable: 0 };
  private readonly magic = randomFillSync(Buffer.alloc(MAGIC_LENGTH));
  private sock: PingSocket | null = null;
  private refusals: SendRefusals | null = null;
  private packetsSent = 0;
  private packetsReceived = 0;
  private resolvedCount = 0;
  private start = 0;
  private started = false;

  constructor(
    private readonly targets: TargetSet,
    private readonly options: PingOptions,
  ) {
    this.count = options.count ?? PING_DEFAULTS.count;
    this.intervalMs = options.intervalMs ?? PING_DEFAULTS.intervalMs;
    this.timeoutMs = options.timeoutMs ?? PING_DEFAULTS.timeoutMs;
    if (!Number.isInteger(this.count) || this.count < 1 || this.count > 65535) {
      throw new UsageError("count must be 1 to 65535");
    }
    if (!(this.intervalMs >= 0) || !(this.timeoutMs >= 1)) throw new UsageError("bad interval or timeout");
    if (targets.size * this.count > MAX_PROBES) {
      throw new UsageError(
        `too many requests (${targets.size} targets x ${this.count}; at most ${MAX_PROBES})`,
      );
    }
    const n = targets.size;
    this.n = n;
    this.sent = new Uint16Array(n);
    this.received = new Uint16Array(n);
    this.errors = new Uint16Array(n);
    this.dups = new Uint16Array(n);
    this.rttMin = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
    this.rttMax = new Float64Array(n);
    this.rttSum = new Float64Array(n);
    this.reason = new Uint8Array(n);
    this.from = new Float64Array(n).fill(-1);
    this.emitted = new Uint8Array(n);
    this.answered = new Uint8Array(Math.ceil((n * this.count) / 8));
    this.replied = new Uint8Array(this.answered.length);
  }

  run(): AsyncGenerator<PingRecord> {
    if (this.started) throw new Error("a ping() run can be iterated only once");
    this.started = true;
    return runProbe(this.queue, {
      setup: () => this.setup(),
      drive: () => this.drive(),
      close: () => {
        this.sock?.socket.close();
        this.refusals?.close();
      },
    });
  }

  private setup(): void {
    const netns = namespacePath(this.options.netns);
    this.refusals = new SendRefusals(netns);
    const device = this.options.interface;
    if (device !== undefined) {
      const link = findLink(listLinks(netns), device);
      if (!link.up) throw new EnvironmentError(`interface "${link.name}" is down`, "ENETDOWN");
    }
    this.sock = openPingSocket({
      ...(netns === undefined ? {} : { netns }),
      ...(device === undefined ? {} : { device }),
      mode: this.options.mode ?? "auto",
    });
    this.mode = this.sock.mode;
    this.sock.socket.startReceive((data, meta, count) => this.onPackets(data, meta, count));
    this.start = native.monotonicMs();
  }

  private async drive(): Promise<void> {
    const signal = this.options.signal;
    const pacer = new Pacer(this.options.rate ?? PING_DEFAULTS.rate);
    const packets = Array.from({ length: BATCH }, () => Buffer.alloc(icmp.HEADER_LENGTH + PAYLOAD));
    let lastSend = native.monotonicMs();
    for (let seq = 0; seq < this.count; seq++) {
      const roundStart = native.monotonicMs();
      let i = 0;
      while (i < this.n) {
        if (signal?.aborted) return this.finish(true);
        const allowed = pacer.allowance(Math.min(BATCH, this.n - i));
        if (allowed === 0) {
          await sleep(pacer.waitMs());
          continue;
        }
        const sent = this.sendBatch(packets, i, allowed, seq);
        pacer.take(sent.accepted);
        i += sent.consumed;
        lastSend = native.monotonicMs();
        if (sent.consumed < allowed)
          await sleep(1); // interface queue full
        else await yieldToLoop();
      }
      if (seq < this.count - 1) {
        const until = roundStart + this.intervalMs;
        while (native.monotonicMs() < until && !signal?.aborted) {
          await sleep(Math.max(1, Math.min(50, until - native.monotonicMs())));
        }
      }
    }
    const deadline = lastSend + this.timeoutMs;
    while (!signal?.aborted && native.monotonicMs() < deadline && this.outstanding() > 0) {
      await sleep(Math.max(1, Math.min(20, deadline - native.monotonicMs())));
    }
    this.finish(signal?.aborted ?? false);
  }

  private outstanding(): number {
    return this.packetsSent - this.resolvedCount;
  }

  /** Sends request `seq` to targets from..from+max-1; returns how many targets were dealt with. */
  private sendBatch(packets: Buffer[], from: number, max: number, seq: number) {
    const socket = this.sock!.socket;
    const addresses: string[] = [];
    const now = native.monotonicMs();
    for (let k = 0; k < max; k++) {
      this.writeRequest(packets[k]!, seq, now);
      addresses.push(intToIpv4(this.targets.at(from + k)));
    }
    let accepted: number;
    let failed: NativeError | null = null;
    try {
      accepted = socket.send(packets.slice(0, max), addresses);
    } catch (err) {
      failed = err as NativeError;
      accepted = failed.sent ?? 0;
    }
    for (let k = 0; k < accepted; k++) this.sent[from + k]!++;
    this.packetsSent += accepted;
    if (failed) {
      // The kernel refused this one: the reason is the answer, named by the route that refused it
      // (blackhole, prohibit, unreachable, broadcast: the kernel pings a broadcast address only with -b)
      // where a route did, else by the errno.
      const i = from + accepted;
      const routeType = this.refusals?.routeType(this.targets.at(i)) ?? null;
      this.noteReason(i, routeType ?? sendErrorReason(failed.code), -1);
      return { accepted, consumed: accepted + 1 };
    }
    return { accepted, consumed: accepted };
  }

  private writeRequest(buf: Buffer, seq: number, now: number): void {
    buf[0] = icmp.TYPE_ECHO_REQUEST;
    buf[1] = 0;
    buf.writeUInt16BE(0, 2);
    buf.writeUInt16BE(this.sock!.id, 4);
    buf.writeUInt16BE(seq, 6);
    this.magic.copy(buf, icmp.HEADER_LENGTH);
    buf.writeDoubleLE(now, icmp.HEADER_LENGTH + STAMP_AT);
    buf.fill(0, icmp.HEADER_LENGTH + STAMP_AT + 8);
    buf.writeUInt16BE(internetChecksum(buf, 0, buf.length), 2);
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

  private onIcmp(data: Buffer, offset: number, length: number, source: number, at: number): void {
    const msg = icmp.decode(data, offset, length);
    if (msg.kind === "echo-reply") {
      // The datagram socket's identifier is checked by the kernel; the raw socket's by the filter and here.
      if (this.sock!.mode === "raw" && msg.id !== this.sock!.id) return;
      if (msg.seq >= this.count || msg.payloadLength < STAMP_AT + 8) return;
      if (!this.magic.equals(data.subarray(msg.payloadOffset, msg.payloadOffset + MAGIC_LENGTH))) return;
      const i = this.targets.indexOf(source);
      if (i < 0) return;
      const rtt = at - data.readDoubleLE(msg.payloadOffset + STAMP_AT);
      if (!(rtt >= 0 && rtt <= at - this.start + 1)) return;
      this.packetsReceived++;
      this.onReply(i, msg.seq, rtt);
      return;
    }
    if (msg.kind !== "destination-unreachable" && msg.kind !== "time-exceeded") return;
    const o = msg.original;
    if (o.ipv4.protocol !== ipv4.PROTOCOL_ICMP || o.icmpType !== icmp.TYPE_ECHO_REQUEST) return;
    if (o.icmpId !== this.sock!.id || o.icmpSeq === null || o.icmpSeq >= this.count) return;
    const i = this.targets.indexOf(o.ipv4.dstInt);
    if (i < 0) return;
    const verdict = icmpErrorVerdict(msg.type, msg.code);
    if (verdict === null) return;
    this.packetsReceived++;
    if (this.errors[i]! < 0xffff) this.errors[i]!++;
    this.markAnswered(i, o.icmpSeq);
    this.noteReason(i, verdict.reason, source);
  }

  /** Sets the request's bit in a bitmap; true when it was set already. */
  private testAndSet(bits: Uint8Array, i: number, seq: number): boolean {
    const bit = i * this.count + seq;
    const mask = 1 << (bit & 7);
    const had = (bits[bit >> 3]! & mask) !== 0;
    bits[bit >> 3]! |= mask;
    return had;
  }

  private markAnswered(i: number, seq: number): void {
    if (!this.testAndSet(this.answered, i, seq)) this.resolvedCount++;
  }

  private onReply(i: number, seq: number, rtt: number): void {
    if (this.testAndSet(this.replied, i, seq)) {
      if (this.dups[i]! < 0xffff) this.dups[i]!++;
      return;
    }
    this.markAnswered(i, seq);
    this.received[i]!++;
    this.rttSum[i]! += rtt;
    if (rtt < this.rttMin[i]!) this.rttMin[i] = rtt;
    if (rtt > this.rttMax[i]!) this.rttMax[i] = rtt;
    // Everything answered: the record is final now.
    if (this.received[i] === this.count && this.emitted[i] === 0) this.emit(i);
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

  private finish(aborted: boolean): void {
    for (let i = 0; i < this.n; i++) if (this.emitted[i] === 0) this.emit(i);
    const durationMs = native.monotonicMs() - this.start;
    let drops = 0;
    try {
      drops = this.sock?.socket.stats().drops ?? 0;
    } catch {
      drops = 0;
    }
    this.summary = {
      type: "summary",
      command: "ping",
      targets: this.n,
      states: { ...this.counts },
      packetsSent: this.packetsSent,
      packetsReceived: this.packetsReceived,
      packetsDropped: drops,
      durationMs: Math.round(durationMs * 10) / 10,
      rate: durationMs > 0 ? Math.round((this.packetsSent * 1000) / durationMs) : 0,
      ...(aborted ? { aborted: true } : {}),
    };
  }

  private emit(i: number): void {
    this.emitted[i] = 1;
    const received = this.received[i]!;
    const reason = this.reason[i]! > 0 ? this.reasons[this.reason[i]! - 1]! : null;
    const state: PingRecord["state"] = received > 0 ? "reply" : reason !== null ? "unreachable" : "no-reply";
    const round = (x: number) => Math.round(x * 1000) / 1000;
    const record: PingRecord = {
      type: "ping",
      target: intToIpv4(this.targets.at(i)),
      state,
      sent: this.sent[i]!,
      received,
      rttMs:
        received > 0
          ? {
              min: round(this.rttMin[i]!),
              avg: round(this.rttSum[i]! / received),
              max: round(this.rttMax[i]!),
            }
          : null,
      errors: this.errors[i]!,
      duplicates: this.dups[i]!,
      reason: state === "unreachable" ? reason : null,
      from: state === "unreachable" && this.from[i]! >= 0 ? intToIpv4(this.from[i]!) : null,
    };
    this.counts[state] = (this.counts[state] ?? 0) + 1;
    this.queue.push(record);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
