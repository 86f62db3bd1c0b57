import { intToIpv4, ipv4ToInt, macToNumber, numberToMac, parseMac } from "../../addr/address";
import { type TargetSet, toTargetSet } from "../../addr/target-set";
import { Pacer } from "../../engine/pacer";
import type { ProbeRun } from "../../engine/probe-run";
import { ResultQueue } from "../../engine/result-queue";
import { runProbe } from "../../engine/run-probe";
import { EnvironmentError, environmentErrorFrom, UsageError } from "../../errors";
import { META_STRIDE, native } from "../../native/binding";
import type { LinkInfo, NativePacketSocket } from "../../native/types";
import { arpReplyFilter } from "../../net/bpf";
import { findLink, HW_ETHERNET } from "../../net/links";
import { namespacePath } from "../../net/namespace";
import { firstIpv4, type RouteDecision } from "../../net/route";
import { createRouteResolver, type RouteResolver } from "../../net/route-resolver";
import { type ArpReplyView, readArpReply, writeArpRequestFrame } from "../../packet/arp";
import type { ArpRecord, SummaryRecord } from "../../records";

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
  signal?: AbortSignal;
}

export const ARP_DEFAULTS = { timeoutMs: 1000, retries: 1, rate: 1000 } as const;

/** Largest sweep: a /12. ARP does not cross routers, and no layer-2 segment is bigger in practice. */
export const ARP_MAX_TARGETS = 1 << 20;

/** requests per send; each goes to the kernel from a worker thread while this one reads the replies */
const BATCH = 512;
/** replies from further MACs within this long after the first one make an address conflict */
export const CONFLICT_WINDOW_MS = 10;
const FRAME_LEN = 42;
const RCVBUF = 8 * 1024 * 1024;
/** records waiting for the reader before the sweep pauses for it */
const QUEUE_LIMIT = 4096;

// Per-target state in a Uint8Array: no object per address, so memory stays flat with the range size.
const UNSEEN = 0;
const ON_LINK = 1; // classified: a request will go out
const SENT = 2; // at least one request went out, no reply yet
const REPLIED = 3; // answered, record not yet emitted (conflict window)
const DONE = 4; // record emitted

interface Channel {
  id: number;
  key: string;
  link: LinkInfo;
  mac: Buffer;
  sourceIp: number;
  socket: NativePacketSocket;
}

/**
 * ARP requests to every target: who answers at layer 2, with which MAC, and which targets the kernel would
 * not reach directly (not-on-link). Exactly one record per target.
 */
export function arp(
  targets: string | readonly string[] | TargetSet,
  options: ArpOptions = {},
): ProbeRun<ArpRecord> {
  const set = toTargetSet(targets);
  if (set.size === 0) throw new UsageError("no targets");
  if (set.size > ARP_MAX_TARGETS) {
    throw new UsageError(`too many targets for ARP (${set.size}; at most ${ARP_MAX_TARGETS}, a /12)`);
  }
  const sweep = new ArpSweep(set, options);
  return {
    get summary() {
      return sweep.summary;
    },
    [Symbol.asyncIterator]: () => sweep.run(),
  };
}

class ArpSweep {
  summary: SummaryRecord | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly conflictWindowMs: number;
  private readonly state: Uint8Array;
  private readonly sentCount: Uint8Array;
  /** monotonic ms of the last request to each target, relative to `start` */
  private readonly sentAt: Float32Array;
  /** channel number + 1 for each target (0: none) */
  private readonly channelOf: Uint8Array;
  private readonly channels: Channel[] = [];
  /** first MAC that answered each target, as a 48-bit number (strings only for what is emitted) */
  private readonly replyMac: Float64Array;
  /** when that first reply arrived, ms relative to `start` */
  private readonly replyAt: Float32Array;
  /** further MACs for the few targets that more than one host answers */
  private readonly extraMacs = new Map<number, number[]>();
  /** targets in the order their first reply arrived, not yet emitted (from replyHead on) */
  private replyOrder: number[] = [];
  private replyHead = 0;
  private readonly view: ArpReplyView = {
    senderIp: 0,
    senderMacOffset: 0,
    targetIp: 0,
    targetMacOffset: 0,
    etherSrcOffset: 0,
  };
  private readonly queue = new ResultQueue<ArpRecord>();
  private readonly counts: Record<string, number> = { reply: 0, "no-reply": 0, "not-on-link": 0, local: 0 };
  private start = 0;
  private packetsSent = 0;
  private packetsReceived = 0;
  private outstanding = 0;
  private started = false;
  private netns: string | undefined;
  private links: readonly LinkInfo[] = [];
  private fixedLink: LinkInfo | null = null;
  private resolver: RouteResolver | null = null;

  constructor(
    private readonly targets: TargetSet,
    private readonly options: ArpOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? ARP_DEFAULTS.timeoutMs;
    this.retries = options.retries ?? ARP_DEFAULTS.retries;
    if (this.retries > 250) throw new UsageError("retries must be at most 250");
    // Two hosts answering for one address reply within microseconds to milliseconds of each other on one
    // segment; waiting a whole timeout for a possible second MAC would make every result slow.
    this.conflictWindowMs = Math.min(this.timeoutMs, CONFLICT_WINDOW_MS);
    this.state = new Uint8Array(targets.size);
    this.sentCount = new Uint8Array(targets.size);
    this.sentAt = new Float32Array(targets.size);
    this.channelOf = new Uint8Array(targets.size);
    this.replyMac = new Float64Array(targets.size);
    this.replyAt = new Float32Array(targets.size);
  }

  run(): AsyncGenerator<ArpRecord> {
    if (this.started) throw new Error("an arp() run can be iterated only once");
    this.started = true;
    return runProbe(this.queue, {
      setup: () => this.setup(),
      drive: () => this.drive(),
      close: () => this.closeAll(),
    });
  }

  private setup(): void {
    this.netns = namespacePath(this.options.netns);
    this.resolver = createRouteResolver(this.netns);
    this.links = this.resolver.links;
    if (this.options.interface !== undefined) {
      const link = findLink(this.links, this.options.interface);
      if (link.hwType !== HW_ETHERNET) {
        throw new EnvironmentError(
          `interface "${link.name}" is not an Ethernet link; ARP needs one`,
          "EINVAL",
        );
      }
      if (!link.up) throw new EnvironmentError(`interface "${link.name}" is down`, "ENETDOWN");
      this.fixedLink = link;
      this.resolver.close();
      this.resolver = createRouteResolver(this.netns, { link });
    } else if (this.options.anyLink) {
      throw new UsageError("--any-link needs an interface (-i)");
    }
    this.start = native.monotonicMs();
  }

  private async drive(): Promise<void> {
    const signal = this.options.signal;
    const pacer = new Pacer(this.options.rate ?? ARP_DEFAULTS.rate);
    for (let round = 0; round <= this.retries; round++) {
      let lastSend = -1;
      let index = 0;
      while (index < this.targets.size) {
        if (signal?.aborted) return await this.finish(true);
        const allowed = pacer.allowance(BATCH);
        if (allowed === 0) {
          await sleep(pacer.waitMs());
          continue;
        }
        const batch = this.collectBatch(index, allowed, round);
        index = batch.next;
        if (batch.indexes.length > 0) {
          // The replies are read and emitted on this thread while the worker sends.
          const sent = await this.sendBatch(batch.channel!, batch.indexes);
          pacer.take(sent);
          lastSend = native.monotonicMs();
          if (sent < batch.indexes.length) {
            // The interface refused the rest: resume from the first unsent target after a short pause.
            index = batch.indexes[sent]!;
            await sleep(1);
            continue;
          }
        } else {
          await yieldToLoop();
        }
        this.flushReplies(false);
        await this.queue.waitForRoom(QUEUE_LIMIT);
      }
      if (lastSend >= 0) await this.waitForReplies(lastSend + this.timeoutMs, signal);
      if (this.outstanding === 0) break;
    }
    await this.finish(signal?.aborted ?? false);
  }

  /**
   * The next run of targets that go out of one channel, classifying unseen targets on the way (targets that
   * need no request get their record right here).
   */
  private collectBatch(from: number, max: number, round: number) {
    const indexes: number[] = [];
    let channel: Channel | null = null;
    let i = from;
    for (; i < this.targets.size && indexes.length < max; i++) {
      let st = this.state[i]!;
      if (st === UNSEEN) {
        this.classify(i);
        st = this.state[i]!;
      }
      if (st !== (round === 0 ? ON_LINK : SENT)) continue;
      const ch = this.channels[this.channelOf[i]! - 1]!;
      if (channel !== null && ch !== channel) break;
      channel = ch;
      indexes.push(i);
    }
    return { indexes, channel, next: i };
  }

  private classify(i: number): void {
    const link = this.fixedLink;
    const decision: RouteDecision =
      link && this.options.anyLink
        ? { kind: "on-link", ifname: link.name, ifindex: link.index, source: firstIpv4(link) }
        : this.resolver!.resolve(this.targets.at(i));
    switch (decision.kind) {
      case "on-link": {
        const l = this.links.find((x) => x.index === decision.ifindex);
        if (!l || l.hwType !== HW_ETHERNET) {
          // Point-to-point and tunnel links have no ARP: nobody can answer there.
          this.emit(i, { state: "no-reply", interface: decision.ifname, source: null });
          return;
        }
        const ch = this.channelFor(l, decision.source ?? firstIpv4(l));
        this.channelOf[i] = ch.id + 1;
        this.state[i] = ON_LINK;
        this.outstanding++;
        return;
      }
      case "local":
        this.emit(i, { state: "local", interface: decision.ifname });
        return;
      case "via-gateway":
        this.emit(i, { state: "not-on-link", interface: decision.ifname, gateway: decision.gateway });
        return;
      case "special":
        this.emit(i, {
          state: decision.routeType === "broadcast" ? "no-reply" : "not-on-link",
          interface: decision.ifname,
        });
        return;
      case "unreachable":
        this.emit(i, { state: "not-on-link", interface: link?.name ?? null });
        return;
      case "other-link": {
        // Pinned to an interface without a route for it: ARPing there would ask a segment it is not on.
        const route = decision.route;
        if (route.kind === "local") {
          this.emit(i, { state: "local", interface: route.ifname });
          return;
        }
        this.emit(i, {
          state: "not-on-link",
          interface: decision.ifname,
          gateway: route.kind === "via-gateway" ? route.gateway : null,
        });
        return;
      }
    }
  }

  private channelFor(link: LinkInfo, source: string | null): Channel {
    const key = `${link.index}/${source ?? ""}`;
    const existing = this.channels.find((c) => c.key === key);
    if (existing) return existing;
    if (this.channels.length >= 255) throw new EnvironmentError("too many interfaces and source addresses");
    if (!link.mac) throw new EnvironmentError(`interface "${link.name}" has no MAC address`);
    const sourceIp = source === null ? 0 : ipv4ToInt(source);
    let socket: NativePacketSocket;
    try {
      socket = new native.PacketSocket({
        ifindex: link.index,
        protocol: 0x0806,
        filter: arpReplyFilter(source === null ? null : sourceIp),
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
      link,
      mac: parseMac(link.mac),
      sourceIp,
      socket,
    };
    this.channels.push(channel);
    socket.startReceive((data, meta, count) => this.onPackets(channel, data, meta, count));
    return channel;
  }

  private readonly frames = Buffer.alloc(BATCH * FRAME_LEN);

  /**
   * Sends one batch from a libuv worker thread (on a veth the kernel's whole path to the peer and back runs
   * in the sending call, so this thread stays free to read replies). Each request's send time is placed by
   * its position between the dispatch and the end of the batch.
   */
  private async sendBatch(channel: Channel, indexes: number[]): Promise<number> {
    const n = indexes.length;
    for (let k = 0; k < n; k++) {
      const i = indexes[k]!;
      writeArpRequestFrame(this.frames, k * FRAME_LEN, channel.mac, channel.sourceIp, this.targets.at(i));
      // Replies may come back before the batch completes; they must be taken, with a provisional time.
      if (this.state[i] === ON_LINK) this.state[i] = SENT;
    }
    const before = native.monotonicMs();
    const { sent, doneMs } = await new Promise<{ sent: number; doneMs: number }>((resolve, reject) => {
      native.sendFramesAsync(channel.socket.fd, this.frames, FRAME_LEN, n, (err, count, done) => {
        if (err && !(err.code === "EAGAIN" || err.code === "ENOBUFS")) {
          reject(environmentErrorFrom(err, `sending on ${channel.link.name}`));
        } else resolve({ sent: err ? ((err as { sent?: number }).sent ?? count) : count, doneMs: done });
      });
    });
    const span = Math.max(0, doneMs - before);
    for (let k = 0; k < n; k++) {
      const i = indexes[k]!;
      if (k >= sent) {
        if (this.state[i] === SENT && this.sentCount[i] === 0) this.state[i] = ON_LINK;
        continue;
      }
      this.sentAt[i] = before - this.start + (span * (k + 1)) / n;
      if (this.sentCount[i]! < 255) this.sentCount[i]!++;
    }
    this.packetsSent += sent;
    return sent;
  }

  private onPackets(channel: Channel, data: Buffer, meta: Float64Array, count: number): void {
    for (let p = 0; p < count; p++) {
      const offset = meta[p * META_STRIDE]!;
      const length = meta[p * META_STRIDE + 1]!;
      const reply = readArpReply(data, offset, length, this.view);
      if (reply === null) continue;
      const i = this.targets.indexOf(reply.senderIp);
      if (i < 0 || this.channelOf[i]! - 1 !== channel.id) continue;
      const st = this.state[i]!;
      // Anything else is unsolicited, or a late duplicate after the record went out.
      if (st !== SENT && st !== REPLIED) continue;
      this.packetsReceived++;
      const mac = macToNumber(data, reply.senderMacOffset);
      if (st === REPLIED) {
        if (mac !== this.replyMac[i]) {
          const extra = this.extraMacs.get(i) ?? [];
          if (!extra.includes(mac)) extra.push(mac);
          this.extraMacs.set(i, extra);
        }
        continue;
      }
      this.replyMac[i] = mac;
      this.replyAt[i] = meta[p * META_STRIDE + 2]! - this.start;
      this.state[i] = REPLIED;
      this.outstanding--;
      this.replyOrder.push(i);
    }
  }

  /** Emits replies whose conflict window has passed (all of them when `all`). */
  private flushReplies(all: boolean): void {
    const due = native.monotonicMs() - this.start - this.conflictWindowMs;
    const order = this.replyOrder;
    while (this.replyHead < order.length && (all || this.replyAt[order[this.replyHead]!]! <= due)) {
      // A reply that beat the end of its own batch waits until the batch has its send times.
      if (!all && this.sentCount[order[this.replyHead]!] === 0) break;
      const i = order[this.replyHead++]!;
      const channel = this.channels[this.channelOf[i]! - 1]!;
      const first = numberToMac(this.replyMac[i]!);
      const extra = this.extraMacs.get(i);
      const macs = extra ? [first, ...extra.map(numberToMac)] : [first];
      this.extraMacs.delete(i);
      this.emit(i, {
        state: "reply",
        interface: channel.link.name,
        mac: first,
        macs,
        conflict: macs.length > 1,
        rttMs: Math.round(Math.max(0, this.replyAt[i]! - this.sentAt[i]!) * 1000) / 1000,
      });
    }
    if (this.replyHead > 4096 && this.replyHead * 2 > order.length) {
      this.replyOrder = order.slice(this.replyHead);
      this.replyHead = 0;
    }
  }

  private async waitForReplies(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      this.flushReplies(false);
      const now = native.monotonicMs();
      if (signal?.aborted || now >= deadline) return;
      if (this.outstanding === 0) {
        // Everyone answered: wait out the conflict window of the last reply, not the whole timeout.
        const last = this.replyOrder[this.replyOrder.length - 1];
        if (last === undefined || now - this.start >= this.replyAt[last]! + this.conflictWindowMs) return;
      }
      await sleep(Math.max(1, Math.min(10, deadline - now)));
    }
  }

  private async finish(aborted: boolean): Promise<void> {
    this.flushReplies(true);
    for (let i = 0; i < this.targets.size; i++) {
      if (this.state[i] !== SENT) continue;
      this.emit(i, { state: "no-reply", interface: this.channels[this.channelOf[i]! - 1]!.link.name });
      if (this.queue.length > QUEUE_LIMIT) await this.queue.waitForRoom(QUEUE_LIMIT / 2);
    }
    const durationMs = native.monotonicMs() - this.start;
    const drops = this.channels.reduce((n, c) => n + safeDrops(c.socket), 0);
    this.summary = {
      type: "summary",
      command: "arp",
      targets: this.targets.size,
      states: { ...this.counts },
      packetsSent: this.packetsSent,
      packetsReceived: this.packetsReceived,
      packetsDropped: drops,
      durationMs: Math.round(durationMs * 10) / 10,
      rate: durationMs > 0 ? Math.round((this.packetsSent * 1000) / durationMs) : 0,
      ...(aborted ? { aborted: true } : {}),
    };
  }

  private emit(i: number, fields: Partial<ArpRecord> & Pick<ArpRecord, "state" | "interface">): void {
    const ch = this.channelOf[i] ? this.channels[this.channelOf[i]! - 1] : undefined;
    const record: ArpRecord = {
      type: "arp",
      target: intToIpv4(this.targets.at(i)),
      interface: fields.interface,
      state: fields.state,
      mac: fields.mac ?? null,
      macs: fields.macs ?? [],
      conflict: fields.conflict ?? false,
      rttMs: fields.rttMs ?? null,
      source: fields.source !== undefined ? fields.source : ch ? intToIpv4(ch.sourceIp) : null,
      gateway: fields.gateway ?? null,
      sent: this.sentCount[i]!,
    };
    this.state[i] = DONE;
    this.counts[record.state] = (this.counts[record.state] ?? 0) + 1;
    this.queue.push(record);
  }

  private closeAll(): void {
    for (const c of this.channels) c.socket.close();
    this.resolver?.close();
  }
}

function safeDrops(socket: NativePacketSocket): number {
  try {
    return socket.stats().drops;
  } catch {
    return 0;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
