import { intToIpv4 } from "../../addr/address";
import { PackedAddresses } from "../../addr/ip";
import { formatIpv6 } from "../../addr/ipv6";
import { CONGESTION_DEFAULTS } from "../../engine/congestion";
import { CookieJar } from "../../engine/cookie";
import { Engine, type ProbeModule, type SendBatch, type SendResult } from "../../engine/engine";
import { META_STRIDE, native } from "../../native/binding";
import {
  type Syn6PacketOptions,
  type SynPacketOptions,
  syn6PacketLength,
  synPacketLength,
  writeSyn6Packet,
  writeSynPacket,
} from "../../packet/tcp";
import { FILTERED_NO_RESPONSE } from "../../port-outcomes";
import { DOWN_REASONS, planRoutes, type RoutePlan } from "../scan/route-plan";
import type { ScanContext } from "../scan/scan-context";
import type { ScanShare } from "../scan/share";
import { Answer, Answer6, readAnswer, readAnswer6 } from "./answer";
import { type Outbox, openChannel, sendOutbox } from "./channel-io";

// The SYN scan as a probe module: a slot is a target x port pair (target * ports + port index). Its probe is
// an Ethernet frame to the next hop's MAC (or a raw IPv4 packet where there is no Ethernet) with the
// validation cookie in the sequence number, so answers are matched statelessly: the cookie ties an answer to
// its probe, the engine's bit per slot tells a duplicate. The engine sends the slots in a random order, in
// passes, and waits each target's own timeout; an unanswered slot is filtered (no-response).

export interface SynScanOptions {
  netns: string | undefined;
  interface: string | undefined;
  /** packets per second: the ceiling when `adaptive`, else the fixed rate; 0 = unlimited */
  rate: number;
  /** a congestion window sizes the burst, as nmap's does (see Congestion); off with rate 0 */
  adaptive: boolean;
  retries: number;
  timeoutMs: number;
  sourcePort: number;
  signal: AbortSignal | undefined;
  /** the order of the slots, and a shard's part of them */
  share: ScanShare;
  /** a shard's: per target, 1 when it is probed by this shard in this scan or the UDP one after it */
  include?: Uint8Array;
}

/**
 * With the adaptive default: probes per second that go even while the congestion window is full (a silent
 * range, where no answer grows the window): a /16 of silent addresses takes about a minute per port.
 */
export const ADAPTIVE_MIN_RATE = 1000;
/** With the adaptive default and no ceiling: the rate of the next hops' ARP requests. */
const ADAPTIVE_ARP_RATE = 10_000;

/** Probes handed to the kernel in one go (one sendmmsg per batch). */
const BATCH = 1024;
/** Ethernet batches being sent on worker threads at once: two keep both CPUs of a small machine busy. */
const ETHERNET_IN_FLIGHT = 2;
const ETH_HEADER = 14;
const SYN_LENGTH = synPacketLength();
const SYN6_LENGTH = syn6PacketLength();

const monotonicMs = () => native.monotonicMs();

export class SynScan implements ProbeModule {
  readonly targets: number;
  readonly items: number;
  private plan!: RoutePlan;
  /** the next hops found (set once run() planned them): a UDP scan of the same targets reuses them */
  get routePlan(): RoutePlan | undefined {
    return this.plan;
  }
  private engine!: Engine;
  /** per channel id: its sockets and frame arena, null for a channel no target uses */
  private readonly outboxes: Array<Outbox | null> = [];
  private readonly jar = new CookieJar();
  private readonly answer = new Answer();
  /** port -> its index in ctx.ports, -1 for a port not scanned */
  private readonly portIndex = new Int32Array(65536).fill(-1);
  private readonly probe: SynPacketOptions = { srcIp: 0, dstIp: 0, srcPort: 0, dstPort: 0, seq: 0 };
  private readonly answer6 = new Answer6();
  private readonly probe6: Syn6PacketOptions = {
    src: new Uint8Array(16),
    dst: new Uint8Array(16),
    srcPort: 0,
    dstPort: 0,
    seq: 0,
  };

  constructor(
    private readonly ctx: ScanContext,
    private readonly options: SynScanOptions,
  ) {
    this.targets = ctx.targets.size;
    this.items = ctx.ports.length;
    ctx.ports.forEach((port, i) => {
      this.portIndex[port] = i;
    });
  }

  /** Runs the whole scan; the caller closes nothing: sockets are closed here, whatever happens. */
  async run(): Promise<boolean> {
    const { ctx, options } = this;
    const signal = options.signal;
    ctx.phase = "arp";
    this.plan = await planRoutes(ctx.targets, {
      netns: options.netns,
      ...(options.interface === undefined ? {} : { interface: options.interface }),
      timeoutMs: options.timeoutMs,
      retries: options.retries,
      // The ARP for next hops is a handful of requests: at the ceiling, or zmap's default rate when adaptive.
      rate: options.adaptive && options.rate === 0 ? ADAPTIVE_ARP_RATE : options.rate,
      ...(signal ? { signal } : {}),
      ...(options.include ? { include: options.include } : {}),
    });
    const aborted = signal?.aborted === true;
    this.reportDown(aborted);
    if (aborted) return false;
    const used = this.usedChannels();
    const share = options.share;
    this.engine = new Engine(this, {
      order: "permuted",
      ...(share.order ? { permutation: share.order } : {}),
      retries: options.retries,
      rate: options.rate,
      batch: BATCH,
      inFlight: this.plan.channels.some((c) => used[c.id] && c.kind === "ethernet") ? ETHERNET_IN_FLIGHT : 1,
      timeoutMs: options.timeoutMs,
      ...(options.adaptive ? { congestion: CONGESTION_DEFAULTS, minRate: ADAPTIVE_MIN_RATE } : {}),
      ...(signal ? { signal } : {}),
      room: () => ctx.room(),
      now: monotonicMs,
    });
    ctx.probing(
      this.engine,
      share.probes(this.targets, (t) => this.plan.channelOf[t]! > 0),
    );
    try {
      this.open(used);
      return await this.engine.run();
    } finally {
      // run() settles only once no worker thread sends on these sockets any more.
      for (const o of this.outboxes) {
        if (!o) continue;
        ctx.packetsDropped += o.io.drops();
        o.io.close();
      }
    }
  }

  channelOf(target: number): number {
    return this.plan.channelOf[target]!;
  }

  /**
   * Writes the batch's frames into its channel's arena and hands them to the kernel: Ethernet frames on a
   * worker thread (which copies them, so the next batch is built meanwhile), IP packets right here. A send
   * the kernel refuses fails the scan, which could not give true answers.
   */
  send(batch: SendBatch): SendResult | Promise<SendResult> {
    const outbox = this.outboxes[batch.channel - 1]!;
    const { slots, count } = batch;
    for (let k = 0; k < count; k++) this.build(outbox, k, slots[k]!);
    return sendOutbox(outbox, count, batch);
  }

  unanswered(slot: number): void {
    const { ctx } = this;
    const t = Math.floor(slot / this.items);
    const port = ctx.ports[slot - t * this.items]!;
    if (t < ctx.targets.size4) ctx.port(ctx.targets.at(t), port, FILTERED_NO_RESPONSE, null, null);
    else ctx.port6(this.text6(t), port, FILTERED_NO_RESPONSE, null, null);
  }

  /** An IPv6 target's address in RFC 5952 form (records are made at the edge). */
  private text6(t: number): string {
    this.ctx.targets.ipv6Into(t, this.probe6.dst);
    return formatIpv6(this.probe6.dst);
  }

  /** Host records for targets that get no probes; a silent next hop is only reported if ARP finished. */
  private reportDown(aborted: boolean): void {
    const { ctx, plan } = this;
    for (let t = 0; t < plan.down.length; t++) {
      const d = plan.down[t]!;
      if (d === 0 || !this.options.share.ownsHost(t)) continue;
      const reason = DOWN_REASONS[d]!;
      if (aborted && (reason === "no-arp-reply" || reason === "no-ndp-reply")) continue;
      if (t >= ctx.targets.size4) {
        ctx.host(this.text6(t), reason);
        continue;
      }
      const ip = ctx.targets.at(t);
      ctx.host(intToIpv4(ip), reason, ctx.names.get(ip));
    }
  }

  /** per channel id: 1 when some target goes out of it */
  private usedChannels(): Uint8Array {
    const used = new Uint8Array(this.plan.channels.length);
    for (let t = 0; t < this.plan.channelOf.length; t++) {
      const c = this.plan.channelOf[t]!;
      if (c > 0) used[c - 1] = 1;
    }
    return used;
  }

  private open(used: Uint8Array): void {
    for (const channel of this.plan.channels) {
      if (!used[channel.id]) {
        this.outboxes.push(null);
        continue;
      }
      const io = openChannel(channel, this.options.netns, this.options.sourcePort, 1);
      const frameLength =
        channel.kind === "ethernet"
          ? ETH_HEADER + (channel.family === 4 ? SYN_LENGTH : SYN6_LENGTH)
          : SYN_LENGTH;
      const arena = Buffer.alloc(BATCH * frameLength);
      const buffers = Array.from({ length: BATCH }, (_, i) =>
        arena.subarray(i * frameLength, (i + 1) * frameLength),
      );
      if (channel.kind === "ethernet") {
        for (const b of buffers) {
          channel.mac!.copy(b, 6);
          b[12] = channel.family === 4 ? 0x08 : 0x86;
          b[13] = channel.family === 4 ? 0x00 : 0xdd;
        }
      }
      const outbox: Outbox = {
        io,
        arena,
        frameLength,
        buffers,
        destinations: new PackedAddresses(4, BATCH),
      };
      this.outboxes.push(outbox);
      // Send times from the kernel, as the answers' are (where it refuses, the engine's own times).
      const id = channel.id + 1;
      io.startTxTimestamps((ids, times, n) => this.engine.txTimestamps(id, ids, times, n));
      io.startReceive(
        (data, meta, count) => this.onPackets(outbox, data, meta, count),
        (err) => this.engine.fail(err),
      );
    }
  }

  /** Writes slot's probe as frame `k` of the outbox. */
  private build(outbox: Outbox, k: number, slot: number): void {
    const { ctx, plan, probe } = this;
    const t = Math.floor(slot / this.items);
    const channel = outbox.io.channel;
    if (channel.family === 6) {
      this.build6(outbox, k, t, ctx.ports[slot - t * this.items]!);
      return;
    }
    const dstIp = ctx.targets.at(t);
    const dstPort = ctx.ports[slot - t * this.items]!;
    probe.srcIp = channel.sourceIp;
    probe.dstIp = dstIp;
    probe.srcPort = this.options.sourcePort;
    probe.dstPort = dstPort;
    probe.seq = this.jar.cookie(channel.sourceIp, dstIp, this.options.sourcePort, dstPort);
    probe.ipId = probe.seq & 0xffff;
    const buf = outbox.buffers[k]!;
    if (channel.kind === "ethernet") {
      const hop = plan.hopOf[t]! * 6;
      plan.hopMacs.copy(buf, 0, hop, hop + 6);
      writeSynPacket(buf, ETH_HEADER, probe);
    } else {
      writeSynPacket(buf, 0, probe);
      outbox.destinations.setV4(k, dstIp);
    }
  }

  /** An IPv6 probe: always an Ethernet frame to the next hop's MAC (found by NDP). */
  private build6(outbox: Outbox, k: number, t: number, dstPort: number): void {
    const { ctx, plan, probe6 } = this;
    const channel = outbox.io.channel;
    ctx.targets.ipv6Into(t, probe6.dst);
    probe6.src = channel.source6!;
    probe6.srcPort = this.options.sourcePort;
    probe6.dstPort = dstPort;
    probe6.seq = this.cookie6(channel.source6!, 0, probe6.dst, 0, dstPort);
    const buf = outbox.buffers[k]!;
    const hop = plan.hopOf[t]! * 6;
    plan.hopMacs.copy(buf, 0, hop, hop + 6);
    writeSyn6Packet(buf, ETH_HEADER, probe6);
  }

  /** The cookie of an IPv6 probe: the jar's, over each address folded to 32 bits (the key keeps it secret). */
  private cookie6(src: Uint8Array, srcAt: number, dst: Uint8Array, dstAt: number, dstPort: number): number {
    return this.jar.cookie(fold(src, srcAt), fold(dst, dstAt), this.options.sourcePort, dstPort);
  }

  private onPackets6(outbox: Outbox, data: Buffer, meta: Float64Array, count: number): void {
    const { ctx, answer6: a, engine } = this;
    const ours = outbox.io.channel.source6!;
    const sourcePort = this.options.sourcePort;
    for (let n = 0; n < count; n++) {
      const base = n * META_STRIDE;
      if (!readAnswer6(data, meta[base]!, meta[base + 1]!, a) || a.ourPort !== sourcePort) {
        ctx.packetsIgnored++;
        continue;
      }
      let mine = true;
      for (let i = 0; i < 16; i++) if (data[a.ourOffset + i] !== ours[i]) mine = false;
      const t = mine ? ctx.targets.indexOfIpv6(data, a.targetOffset) : -1;
      const pi = t >= 0 ? this.portIndex[a.port]! : -1;
      if (pi < 0 || this.plan.channelOf[t] === 0) {
        ctx.packetsIgnored++;
        continue;
      }
      const cookie = this.cookie6(data, a.ourOffset, data, a.targetOffset, a.port);
      const valid = a.tcp ? (a.echoed - 1) >>> 0 === cookie || a.echoed === cookie : a.echoed === cookie;
      const rtt = valid ? engine.answer(t * this.items + pi, meta[base + 2]!) : -1;
      if (rtt === -1) {
        ctx.packetsIgnored++;
        continue;
      }
      const target = formatIpv6(data, a.targetOffset);
      const from = a.fromOffset === a.targetOffset ? target : formatIpv6(data, a.fromOffset);
      ctx.port6(target, a.port, a.outcome, a.ttl, rtt, from);
    }
  }

  private onPackets(outbox: Outbox, data: Buffer, meta: Float64Array, count: number): void {
    if (outbox.io.channel.family === 6) {
      this.onPackets6(outbox, data, meta, count);
      return;
    }
    const { ctx, answer, engine } = this;
    const targets = ctx.targets;
    const sourcePort = this.options.sourcePort;
    const linkHeader = outbox.io.linkHeaderLength;
    const ourIp = outbox.io.channel.sourceIp;
    for (let n = 0; n < count; n++) {
      const base = n * META_STRIDE;
      if (!readAnswer(data, meta[base]!, meta[base + 1]!, linkHeader, answer)) {
        ctx.packetsIgnored++;
        continue;
      }
      const t = answer.ourIp === ourIp && answer.ourPort === sourcePort ? targets.indexOf(answer.target) : -1;
      const pi = t >= 0 ? this.portIndex[answer.port]! : -1;
      if (pi < 0 || this.plan.channelOf[t] === 0) {
        ctx.packetsIgnored++;
        continue;
      }
      const cookie = this.jar.cookie(ourIp, answer.target, sourcePort, answer.port);
      const valid = answer.tcp
        ? (answer.echoed - 1) >>> 0 === cookie || answer.echoed === cookie
        : answer.echoed === cookie;
      // -1: the slot has its answer (or its verdict) already
      const rtt = valid ? engine.answer(t * this.items + pi, meta[base + 2]!) : -1;
      if (rtt === -1) {
        ctx.packetsIgnored++;
        continue;
      }
      ctx.port(answer.target, answer.port, answer.outcome, answer.ttl, rtt, answer.from);
    }
  }
}

/** The 16 bytes at `at` as one 32-bit word: the xor of their four words. */
export function fold(b: Uint8Array, at: number): number {
  let x = 0;
  for (let i = 0; i < 16; i += 4)
    x ^= (b[at + i]! << 24) | (b[at + i + 1]! << 16) | (b[at + i + 2]! << 8) | b[at + i + 3]!;
  return x >>> 0;
}
