import { intToIpv4 } from "../../addr/address";
import { PackedAddresses } from "../../addr/ip";
import { formatIpv6 } from "../../addr/ipv6";
import { CONGESTION_DEFAULTS } from "../../engine/congestion";
import { CookieJar } from "../../engine/cookie";
import { Engine, type ProbeModule, type SendBatch, type SendResult } from "../../engine/engine";
import { META_STRIDE, native } from "../../native/binding";
import {
  type Udp4PacketOptions,
  type Udp6PacketOptions,
  udp4PacketLength,
  udp6PacketLength,
  writeUdp4Packet,
  writeUdp6Packet,
} from "../../packet/udp";
import { CLOSED_PORT_UNREACH, OPEN_FILTERED_NO_RESPONSE } from "../../port-outcomes";
import { DOWN_REASONS, planRoutes, type RoutePlan } from "../scan/route-plan";
import type { ScanContext } from "../scan/scan-context";
import type { ScanShare } from "../scan/share";
import { type Outbox, openChannel, sendOutbox } from "../syn/channel-io";
import { ADAPTIVE_MIN_RATE, fold } from "../syn/syn-scan";
import { readUdpAnswer, UdpAnswer } from "./answer";
import { MAX_UDP_PAYLOAD, udpPayload } from "./payloads";

// The UDP scan (nmap -sU) as a probe module: a slot is a target x UDP port pair. Its probe is a UDP datagram
// (a protocol request for the few ports whose services ignore an empty one, see payloads.ts), in an
// Ethernet frame to the next hop's MAC or a raw IPv4 packet, with the validation cookie in the IPv4 id: an
// ICMP error quotes it back. A UDP answer from the port makes it open, the target's ICMP port unreachable
// closed, any other ICMP unreachable filtered, and silence after every attempt open|filtered.
//
// IPv6 targets are the module's second family, as in the SYN scan: their channels (from the same route plan,
// next hops by wireprobe's NDP) carry Ethernet frames with an IPv6 UDP datagram (the checksum is mandatory
// there), the cookie in the flow label (20 bits, the same for every probe of one address and port pair, as
// RFC 6437 wants a flow's label), and ICMPv6 errors are read as nmap -6 -sU reads them (udpIcmpv6Outcome).
//
// Kernels rate-limit port unreachables (Linux: a burst of about 6, then one a second per destination; ICMPv6
// errors alike, net.ipv6.icmp.ratelimit), so
// most answers of a closed host come to retransmissions: as nmap does, unanswered ports are sent again per
// target, each retry pass waiting longer (the engine's retryBackoff), so the limiter's tokens refill between
// passes. As in nmap, a target that never sent a port unreachable is retried only one pass beyond the latest
// pass that brought it an answer (so a silent or fully answering host is done after one retry). A target that
// did send port unreachables is rate-limited: it is given up on only once a whole pass went out at least
// LIMITER_REFILL_MS after its latest answer and brought nothing, that is once its limiter surely had a token
// for a closed port and none answered. Counting passes instead fails when passes come faster than the
// limiter's tokens: a pass 0.8 s after the latest answer finds the bucket empty, and a closed host looked
// open|filtered. A target that sent port unreachables may still have had more suppressed: its open|filtered
// ports may be closed, and the summary counts them (mayBeRateLimited).

export interface UdpScanOptions {
  netns: string | undefined;
  interface: string | undefined;
  /** packets per second: the ceiling when `adaptive`, else the fixed rate; 0 = unlimited */
  rate: number;
  adaptive: boolean;
  retries: number;
  /**
   * true when `retries` is the user's: a hard limit. Else, as long as a rate-limited target may still send
   * port unreachables (see above), more passes go (up to UDP_MAX_PASSES).
   */
  retriesFixed: boolean;
  timeoutMs: number;
  sourcePort: number;
  signal: AbortSignal | undefined;
  /** the next hops a TCP scan of the same targets found already (and reported down hosts for) */
  plan?: RoutePlan;
  /** the order of the slots, and a shard's part of them */
  share: ScanShare;
  /** a shard's (without `plan`): per target, 1 when it is probed by this shard */
  include?: Uint8Array;
}

/**
 * Extra passes over unanswered UDP ports at most unless the user says (nmap's --max-retries default); each
 * target gets fewer by the rule above.
 */
export const UDP_DEFAULT_RETRIES = 10;
/**
 * A rate-limited target is given up on after a pass sent this long after its latest answer brought nothing:
 * Linux's limiter gives a token a second (net.ipv4.icmp_ratelimit and net.ipv6.icmp.ratelimit, 1000 ms).
 */
export const LIMITER_REFILL_MS = 1100;
/** Retry pass p waits the target's timeout x 2^p, up to this (the limiter gives a token a second). */
export const UDP_MAX_PASS_WAIT_MS = 2000;
/**
 * Passes at most while rate-limited targets still answer more each pass: a Linux host's closed ports come
 * in at about two a pass then, so this covers a few hundred closed ports per host.
 */
export const UDP_MAX_PASSES = 200;

/** What decides whether a target gets another retry pass. */
export interface RetryState {
  /** it sent a port unreachable */
  rateLimited: boolean;
  /** the latest pass during which an answer from it came */
  answeredIn: number;
  /** when its latest answer came (monotonic ms) */
  lastAnswerMs: number;
  /** when the pass before this one began (monotonic ms) */
  previousPassMs: number;
}

/** Whether a target gets retry pass `pass` (the rules at the top of this file). */
export function retriedAgain(pass: number, s: RetryState): boolean {
  if (s.rateLimited) return s.previousPassMs - s.lastAnswerMs < LIMITER_REFILL_MS;
  return pass <= s.answeredIn + 1;
}

const BATCH = 1024;
const ETHERNET_IN_FLIGHT = 2;
const ETH_HEADER = 14;
const ADAPTIVE_ARP_RATE = 10_000;
/** Every frame is laid out for the longest payload; a shorter datagram leaves Ethernet padding after it. */
const MAX_PACKET = udp4PacketLength(new Uint8Array(MAX_UDP_PAYLOAD));
const MAX_PACKET6 = udp6PacketLength(new Uint8Array(MAX_UDP_PAYLOAD));

const monotonicMs = () => native.monotonicMs();

export class UdpScan implements ProbeModule {
  readonly targets: number;
  readonly items: number;
  private plan!: RoutePlan;
  private engine!: Engine;
  private readonly outboxes: Array<Outbox | null> = [];
  private readonly jar = new CookieJar();
  private readonly answer = new UdpAnswer();
  private readonly portIndex = new Int32Array(65536).fill(-1);
  private readonly probe: Udp4PacketOptions = { srcIp: 0, dstIp: 0, srcPort: 0, dstPort: 0 };
  private readonly probe6: Udp6PacketOptions = {
    src: new Uint8Array(16),
    dst: new Uint8Array(16),
    srcPort: 0,
    dstPort: 0,
  };
  private readonly ports: Uint16Array;
  /** the latest pass sent: an answer that comes while a retry pass is out answers a retransmission */
  private pass = 0;
  /** per target: 1 once it sent a port unreachable (its silent ports may be rate-limited closed ones) */
  private readonly unreachables: Uint8Array;
  /** per target: when its latest answer came (monotonic ms) */
  private readonly lastAnswerMs: Float64Array;
  /** per pass: when its first probe went (monotonic ms) */
  private readonly passStartMs: number[] = [];
  /** per target: the latest pass during which an answer from it came (nmap's max_successful_tryno) */
  private readonly answeredIn: Uint8Array;
  /** per target: 1 once it was given up on (its unanswered ports have their records) */
  private readonly givenUp: Uint8Array;

  constructor(
    private readonly ctx: ScanContext,
    private readonly options: UdpScanOptions,
  ) {
    this.ports = ctx.udpPorts;
    this.targets = ctx.targets.size;
    this.items = this.ports.length;
    this.unreachables = new Uint8Array(this.targets);
    this.answeredIn = new Uint8Array(this.targets);
    this.givenUp = new Uint8Array(this.targets);
    this.lastAnswerMs = new Float64Array(this.targets);
    this.ports.forEach((port, i) => {
      this.portIndex[port] = i;
    });
  }

  async run(): Promise<boolean> {
    const { ctx, options } = this;
    const signal = options.signal;
    ctx.protocol = "udp";
    if (options.plan) {
      this.plan = options.plan;
    } else {
      ctx.phase = "arp";
      this.plan = await planRoutes(ctx.targets, {
        netns: options.netns,
        ...(options.interface === undefined ? {} : { interface: options.interface }),
        timeoutMs: options.timeoutMs,
        // the ARP for next hops retries as a TCP scan's does, not as often as UDP ports
        retries: options.retriesFixed ? options.retries : 1,
        rate: options.adaptive && options.rate === 0 ? ADAPTIVE_ARP_RATE : options.rate,
        ...(signal ? { signal } : {}),
        ...(options.include ? { include: options.include } : {}),
      });
    }
    const aborted = signal?.aborted === true;
    if (!options.plan) this.reportDown(aborted);
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
      retryBackoff: { factor: 2, maxMs: UDP_MAX_PASS_WAIT_MS },
      ...(options.retriesFixed ? {} : { morePasses: (pass: number) => this.morePasses(pass) }),
      beforePass: (pass) => this.giveUp(pass),
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
   * Before retry pass `pass`: the targets that get no more retries have their unanswered ports settled as
   * open|filtered now (nmap: a host is retried one try beyond its latest answered one).
   */
  private async giveUp(pass: number): Promise<void> {
    const { engine, items } = this;
    const previousPassMs = this.passStartMs[pass - 1] ?? Number.POSITIVE_INFINITY;
    let made = 0;
    for (let t = 0; t < this.targets; t++) {
      if (this.givenUp[t] === 1 || this.plan.channelOf[t] === 0 || this.stillRetried(t, pass, previousPassMs))
        continue;
      this.givenUp[t] = 1;
      for (let i = 0; i < items; i++) {
        const slot = t * items + i;
        if (!engine.settle(slot)) continue;
        this.unanswered(slot);
        if (++made % 1024 === 0) await this.ctx.room();
      }
    }
  }

  private stillRetried(t: number, pass: number, previousPassMs: number): boolean {
    return retriedAgain(pass, {
      rateLimited: this.unreachables[t] === 1,
      answeredIn: this.answeredIn[t]!,
      lastAnswerMs: this.lastAnswerMs[t]!,
      previousPassMs,
    });
  }

  /** Another pass while a rate-limited target is still retried (nmap goes on as long, too). */
  private morePasses(pass: number): boolean {
    if (pass >= UDP_MAX_PASSES) return false;
    for (let t = 0; t < this.targets; t++)
      if (this.unreachables[t] === 1 && this.givenUp[t] === 0) return true;
    return false;
  }

  send(batch: SendBatch): SendResult | Promise<SendResult> {
    if (this.passStartMs.length <= batch.pass) this.passStartMs[batch.pass] = monotonicMs();
    if (batch.pass > this.pass) this.pass = batch.pass;
    const outbox = this.outboxes[batch.channel - 1]!;
    const { slots, count } = batch;
    for (let k = 0; k < count; k++) this.build(outbox, k, slots[k]!);
    return sendOutbox(outbox, count, batch);
  }

  unanswered(slot: number): void {
    const { ctx } = this;
    const t = Math.floor(slot / this.items);
    const port = this.ports[slot - t * this.items]!;
    if (this.unreachables[t] === 1) ctx.mayBeRateLimited++;
    if (t < ctx.targets.size4) ctx.port(ctx.targets.at(t), port, OPEN_FILTERED_NO_RESPONSE, null, null);
    else ctx.port6(this.text6(t), port, OPEN_FILTERED_NO_RESPONSE, null, null);
  }

  /** An IPv6 target's address in RFC 5952 form (records are made at the edge). */
  private text6(t: number): string {
    this.ctx.targets.ipv6Into(t, this.probe6.dst);
    return formatIpv6(this.probe6.dst);
  }

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
      const io = openChannel(channel, this.options.netns, this.options.sourcePort, 1, 17);
      const packet = channel.family === 4 ? MAX_PACKET : MAX_PACKET6;
      const frameLength = channel.kind === "ethernet" ? ETH_HEADER + packet : packet;
      const arena = Buffer.alloc(BATCH * frameLength);
      if (channel.kind === "ethernet") {
        for (let k = 0; k < BATCH; k++) {
          const at = k * frameLength;
          channel.mac!.copy(arena, at + 6);
          arena[at + 12] = channel.family === 4 ? 0x08 : 0x86;
          arena[at + 13] = channel.family === 4 ? 0x00 : 0xdd;
        }
      }
      const outbox: Outbox = {
        io,
        arena,
        frameLength,
        buffers: channel.kind === "ethernet" ? [] : new Array<Buffer>(BATCH),
        // Addresses stay packed per family, so an IPv6 channel only changes the family here.
        destinations: new PackedAddresses(4, BATCH),
      };
      this.outboxes.push(outbox);
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
    const dstPort = this.ports[slot - t * this.items]!;
    const channel = outbox.io.channel;
    if (channel.family === 6) {
      this.build6(outbox, k, t, dstPort);
      return;
    }
    const dstIp = ctx.targets.at(t);
    probe.srcIp = channel.sourceIp;
    probe.dstIp = dstIp;
    probe.srcPort = this.options.sourcePort;
    probe.dstPort = dstPort;
    probe.ipId = this.ipId(channel.sourceIp, dstIp, dstPort);
    probe.payload = udpPayload(dstPort);
    const at = k * outbox.frameLength;
    if (channel.kind === "ethernet") {
      const hop = plan.hopOf[t]! * 6;
      plan.hopMacs.copy(outbox.arena, at, hop, hop + 6);
      const end = at + ETH_HEADER + writeUdp4Packet(outbox.arena, at + ETH_HEADER, probe);
      // what an earlier, longer probe left in this frame goes out as zero padding
      outbox.arena.fill(0, end, at + outbox.frameLength);
    } else {
      const length = writeUdp4Packet(outbox.arena, at, probe);
      outbox.buffers[k] = outbox.arena.subarray(at, at + length);
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
    probe6.flowLabel = this.flowLabel(probe6.src, 0, probe6.dst, 0, dstPort);
    probe6.payload = udpPayload(dstPort);
    const at = k * outbox.frameLength;
    const hop = plan.hopOf[t]! * 6;
    plan.hopMacs.copy(outbox.arena, at, hop, hop + 6);
    const end = at + ETH_HEADER + writeUdp6Packet(outbox.arena, at + ETH_HEADER, probe6);
    outbox.arena.fill(0, end, at + outbox.frameLength);
  }

  /** The probe's IPv4 id: its cookie's low bits, never 0 (a raw socket would have the kernel pick one). */
  private ipId(ourIp: number, target: number, port: number): number {
    return this.jar.cookie(ourIp, target, this.options.sourcePort, port) & 0xffff || 1;
  }

  /** An IPv6 probe's flow label: its cookie (over the addresses folded to 32 bits), 20 bits, never 0. */
  private flowLabel(src: Uint8Array, srcAt: number, dst: Uint8Array, dstAt: number, port: number): number {
    return this.jar.cookie(fold(src, srcAt), fold(dst, dstAt), this.options.sourcePort, port) & 0xfffff || 1;
  }

  private onPackets(outbox: Outbox, data: Buffer, meta: Float64Array, count: number): void {
    const { ctx, answer, engine } = this;
    const targets = ctx.targets;
    const sourcePort = this.options.sourcePort;
    const linkHeader = outbox.io.linkHeaderLength;
    const channel = outbox.io.channel;
    const ourIp = channel.sourceIp;
    const ours6 = channel.source6;
    for (let n = 0; n < count; n++) {
      const base = n * META_STRIDE;
      if (
        !readUdpAnswer(data, meta[base]!, meta[base + 1]!, linkHeader, answer) ||
        answer.family !== channel.family ||
        answer.ourPort !== sourcePort
      ) {
        ctx.packetsIgnored++;
        continue;
      }
      let t = -1;
      let valid = true;
      if (answer.family === 4) {
        if (answer.ourIp === ourIp) t = targets.indexOf(answer.target);
        // A UDP answer carries nothing of the probe; an ICMP error quotes its id.
        valid = answer.echoed < 0 || answer.echoed === this.ipId(ourIp, answer.target, answer.port);
      } else {
        if (equal16(data, answer.ourOffset, ours6!)) t = targets.indexOfIpv6(data, answer.targetOffset);
        valid =
          answer.echoed < 0 ||
          answer.echoed === this.flowLabel(data, answer.ourOffset, data, answer.targetOffset, answer.port);
      }
      const pi = t >= 0 ? this.portIndex[answer.port]! : -1;
      if (pi < 0 || this.plan.channelOf[t] === 0) {
        ctx.packetsIgnored++;
        continue;
      }
      const rtt = valid ? engine.answer(t * this.items + pi, meta[base + 2]!) : -1;
      if (rtt === -1) {
        ctx.packetsIgnored++;
        continue;
      }
      if (this.pass > this.answeredIn[t]!) this.answeredIn[t] = Math.min(255, this.pass);
      this.lastAnswerMs[t] = monotonicMs();
      if (answer.outcome === CLOSED_PORT_UNREACH) this.unreachables[t] = 1;
      if (answer.family === 4) {
        ctx.port(answer.target, answer.port, answer.outcome, answer.ttl, rtt, answer.from);
        continue;
      }
      const target = formatIpv6(data, answer.targetOffset);
      const from = equal16(data, answer.fromOffset, data, answer.targetOffset)
        ? target
        : formatIpv6(data, answer.fromOffset);
      ctx.port6(target, answer.port, answer.outcome, answer.ttl, rtt, from);
    }
  }
}

/** Whether the 16 bytes of `a` at `at` equal those of `b` at `bAt`. */
function equal16(a: Uint8Array, at: number, b: Uint8Array, bAt = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[at + i] !== b[bAt + i]) return false;
  return true;
}
