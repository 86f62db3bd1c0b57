import { intToIpv4 } from "../../addr/address";
import { CookieJar } from "../../engine/cookie";
import { Pacer } from "../../engine/pacer";
import { Permutation } from "../../engine/permutation";
import { SendLog } from "../../engine/send-log";
import { TargetTimeouts } from "../../engine/timeouts";
import { META_STRIDE, native } from "../../native/binding";
import { type SynPacketOptions, synPacketLength, writeSynPacket } from "../../packet/tcp";
import { FILTERED_NO_RESPONSE } from "../../port-outcomes";
import { DOWN_REASONS, planRoutes, type RoutePlan } from "../scan/route-plan";
import type { ScanContext } from "../scan/scan-context";
import { Answer, readAnswer } from "./answer";
import { type ChannelIo, openChannel } from "./channel-io";

// The SYN scan: every target x port pair gets a SYN in a random order (Permutation), sent in batches as
// Ethernet frames to the next hop's MAC (or as raw IPv4 packets where there is no Ethernet), with the
// validation cookie in the sequence number. Answers are matched statelessly (cookie + one bit per probe
// saying it was answered), so memory is a bit per probe plus a few typed arrays per target; no per-probe
// objects. After each pass the scan waits until every unanswered probe's own timeout (its target's, adapting
// to that target's round trips: TargetTimeouts) has run out; those probes are sent again in the next pass,
// and after the last one the rest are filtered (no-response).

export interface SynScanOptions {
  netns: string | undefined;
  interface: string | undefined;
  rate: number;
  retries: number;
  timeoutMs: number;
  sourcePort: number;
  signal: AbortSignal | undefined;
}

/** Probes handed to the kernel in one go (one sendmmsg per channel). */
const CHUNK = 1024;
const ETH_HEADER = 14;
const SYN_LENGTH = synPacketLength();

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Outbox {
  io: ChannelIo;
  /** the frames of one batch, back to back, frameLength bytes each */
  arena: Buffer;
  frameLength: number;
  /** views of the arena, one per frame (for the synchronous send) */
  buffers: Buffer[];
  destinations: string[];
  count: number;
}

/** Batches being sent on worker threads at once: two keep both CPUs of a small machine busy. */
const IN_FLIGHT = 2;

export class SynScan {
  private plan!: RoutePlan;
  private readonly outboxes: Array<Outbox | null> = [];
  private readonly jar = new CookieJar();
  private readonly answer = new Answer();
  private readonly sendLog = new SendLog();
  private readonly portIndex = new Int32Array(65536).fill(-1);
  private readonly size: number;
  private readonly p: number;
  private perm!: Permutation;
  private answered!: Uint8Array;
  private outstanding = 0;
  private pass = 0;
  private timeouts!: TargetTimeouts;
  /** per target: probes without an answer (0 for targets that get none) */
  private unanswered!: Uint32Array;
  /** per target: when its latest probe went out (ms, CLOCK_MONOTONIC) */
  private lastSent!: Float64Array;
  /** the target of each probe in the batch being built */
  private readonly batchTargets = new Int32Array(CHUNK);
  private readonly inFlight = new Set<Promise<void>>();
  private failure: Error | null = null;
  private readonly probe: SynPacketOptions = { srcIp: 0, dstIp: 0, srcPort: 0, dstPort: 0, seq: 0 };

  constructor(
    private readonly ctx: ScanContext,
    private readonly options: SynScanOptions,
  ) {
    this.p = ctx.ports.length;
    this.size = ctx.targets.size * this.p;
    ctx.ports.forEach((port, i) => {
      this.portIndex[port] = i;
    });
  }

  /** Runs the whole scan; the caller closes nothing: sockets are closed here, whatever happens. */
  async run(): Promise<boolean> {
    const { ctx, options } = this;
    const signal = options.signal;
    ctx.progress.phase = "arp";
    this.plan = await planRoutes(ctx.targets, {
      netns: options.netns,
      ...(options.interface === undefined ? {} : { interface: options.interface }),
      timeoutMs: options.timeoutMs,
      retries: options.retries,
      rate: options.rate,
      ...(signal ? { signal } : {}),
    });
    const aborted = () => signal?.aborted === true;
    this.reportDown(aborted());
    if (aborted()) return false;
    try {
      this.open();
      this.perm = new Permutation(this.size);
      this.answered = new Uint8Array(Math.ceil(this.size / 8));
      this.outstanding = this.plan.live * this.p;
      const targets = ctx.targets.size;
      this.timeouts = new TargetTimeouts(targets, options.timeoutMs);
      this.lastSent = new Float64Array(targets);
      this.unanswered = new Uint32Array(targets);
      for (let t = 0; t < targets; t++) if (this.plan.channelOf[t] !== 0) this.unanswered[t] = this.p;
      ctx.progress.probesTotal = this.outstanding;
      ctx.progress.phase = "scanning";
      const pacer = new Pacer(options.rate);
      for (let pass = 0; pass <= options.retries && this.outstanding > 0; pass++) {
        if (pass > 0) this.sendLog.newPass();
        this.pass = pass;
        ctx.progress.phase = "scanning";
        await this.sendPass(pass, pacer);
        if (aborted()) return false;
        ctx.progress.phase = "waiting";
        await this.waitForAnswers();
        if (aborted()) return false;
      }
      ctx.progress.phase = "done";
      await this.reportUnanswered();
      return !aborted();
    } finally {
      // The worker threads still use the sockets' descriptors: close only when they are done.
      while (this.inFlight.size > 0) await Promise.race(this.inFlight);
      for (const o of this.outboxes) {
        if (!o) continue;
        ctx.packetsDropped += o.io.drops();
        o.io.close();
      }
    }
  }

  /** Host records for targets that get no probes; a silent next hop is only reported if ARP finished. */
  private reportDown(aborted: boolean): void {
    const { ctx, plan } = this;
    const arpIncomplete = aborted;
    for (let t = 0; t < plan.down.length; t++) {
      const d = plan.down[t]!;
      if (d === 0) continue;
      const reason = DOWN_REASONS[d]!;
      if (arpIncomplete && reason === "no-arp-reply") continue;
      const ip = ctx.targets.at(t);
      ctx.host(intToIpv4(ip), reason, ctx.names.get(ip));
    }
  }

  private open(): void {
    const used = new Uint8Array(this.plan.channels.length);
    for (let t = 0; t < this.plan.channelOf.length; t++) {
      const c = this.plan.channelOf[t]!;
      if (c > 0) used[c - 1] = 1;
    }
    for (const channel of this.plan.channels) {
      if (!used[channel.id]) {
        this.outboxes.push(null);
        continue;
      }
      const io = openChannel(channel, this.options.netns, this.options.sourcePort, 1);
      const frameLength = channel.kind === "ethernet" ? ETH_HEADER + SYN_LENGTH : SYN_LENGTH;
      const arena = Buffer.alloc(CHUNK * frameLength);
      const buffers = Array.from({ length: CHUNK }, (_, i) =>
        arena.subarray(i * frameLength, (i + 1) * frameLength),
      );
      if (channel.kind === "ethernet") {
        for (const b of buffers) {
          channel.mac!.copy(b, 6);
          b[12] = 0x08;
          b[13] = 0x00;
        }
      }
      const outbox: Outbox = {
        io,
        arena,
        frameLength,
        buffers,
        destinations: new Array<string>(CHUNK).fill(""),
        count: 0,
      };
      this.outboxes.push(outbox);
      io.startReceive((data, meta, count) => this.onPackets(outbox, data, meta, count));
    }
  }

  private isAnswered(k: number): boolean {
    return (this.answered[Math.floor(k / 8)]! & (1 << (k % 8))) !== 0;
  }

  private async sendPass(pass: number, pacer: Pacer): Promise<void> {
    const { ctx, plan, perm } = this;
    const signal = this.options.signal;
    const domain = perm.domain;
    const size = this.size;
    const p = this.p;
    const channelOf = plan.channelOf;
    let position = 0;
    while (position < domain) {
      if (signal?.aborted) return;
      await ctx.room();
      const allowed = pacer.allowance(CHUNK);
      if (allowed === 0) {
        await sleep(pacer.waitMs());
        continue;
      }
      const from = position;
      let built = 0;
      // A batch goes out of one channel only, so a probe's place in the batch is its place in the frames
      // sent, which the send log interpolates send times by.
      let channel = 0;
      while (position < domain && built < allowed) {
        const k = perm.at(position);
        if (k >= size) {
          position++;
          continue;
        }
        const t = Math.floor(k / p);
        const c = channelOf[t]!;
        if (c === 0 || (pass > 0 && this.isAnswered(k))) {
          position++;
          continue;
        }
        if (channel !== 0 && c !== channel) break;
        channel = c;
        position++;
        this.build(this.outboxes[c - 1]!, t, k - t * p);
        this.batchTargets[built] = t;
        built++;
      }
      if (built === 0) continue;
      const batch = this.sendLog.record(from, position, native.monotonicMs());
      await this.flush(batch);
      // Handed to the kernel (a worker thread may still be writing the last frames, for a millisecond or so).
      const sentMs = native.monotonicMs();
      for (let i = 0; i < built; i++) this.lastSent[this.batchTargets[i]!] = sentMs;
      pacer.take(built);
      ctx.packetsSent += built;
      if (pass === 0) ctx.progress.probesSent += built;
      else ctx.progress.retransmissions += built;
      await nextTurn();
    }
    await this.settle();
  }

  private build(outbox: Outbox, t: number, pi: number): void {
    const ctx = this.ctx;
    const dstIp = ctx.targets.at(t);
    const dstPort = ctx.ports[pi]!;
    const channel = outbox.io.channel;
    const probe = this.probe;
    probe.srcIp = channel.sourceIp;
    probe.dstIp = dstIp;
    probe.srcPort = this.options.sourcePort;
    probe.dstPort = dstPort;
    probe.seq = this.jar.cookie(channel.sourceIp, dstIp, this.options.sourcePort, dstPort);
    probe.ipId = probe.seq & 0xffff;
    const buf = outbox.buffers[outbox.count]!;
    if (channel.kind === "ethernet") {
      this.plan.hopMacs.copy(buf, 0, this.plan.hopOf[t]! * 6, this.plan.hopOf[t]! * 6 + 6);
      writeSynPacket(buf, ETH_HEADER, probe);
    } else {
      writeSynPacket(buf, 0, probe);
      outbox.destinations[outbox.count] = intToIpv4(dstIp);
    }
    outbox.count++;
  }

  /**
   * Hands every outbox to the kernel: Ethernet batches on a worker thread (at most IN_FLIGHT at once, the
   * frames copied, so building the next batch goes on meanwhile), IP batches right here. A full interface
   * queue is waited out; a send the kernel refuses fails the scan, which could not give true answers.
   */
  private async flush(batch: ReturnType<SendLog["record"]>): Promise<void> {
    for (const outbox of this.outboxes) {
      if (!outbox || outbox.count === 0) continue;
      const count = outbox.count;
      outbox.count = 0;
      const io = outbox.io;
      if (io.sendAsync) {
        while (this.inFlight.size >= IN_FLIGHT) await Promise.race(this.inFlight);
        const sending: Promise<void> = io.sendAsync(outbox.arena, outbox.frameLength, count).then(
          ({ sent, doneMs }) => {
            this.inFlight.delete(sending);
            this.sendLog.finished(batch, doneMs);
            if (sent < count)
              this.failure ??= new Error(
                `sending on ${io.channel.link.name}: the interface queue stays full`,
              );
          },
          (err: Error) => {
            this.inFlight.delete(sending);
            this.failure ??= new Error(`sending on ${io.channel.link.name}: ${err.message}`);
          },
        );
        this.inFlight.add(sending);
        continue;
      }
      let done = 0;
      let stalls = 0;
      while (done < count) {
        let sent: number;
        try {
          sent = io.send(
            done === 0 ? outbox.buffers : outbox.buffers.slice(done, count),
            count - done,
            done === 0 ? outbox.destinations : outbox.destinations.slice(done, count),
          );
        } catch (err) {
          throw new Error(`sending on ${io.channel.link.name}: ${(err as Error).message}`);
        }
        done += sent;
        if (done < count) {
          if (++stalls > 5000)
            throw new Error(`sending on ${io.channel.link.name}: the interface queue stays full`);
          await sleep(1);
        }
      }
      this.sendLog.finished(batch, native.monotonicMs());
    }
    if (this.failure) throw this.failure;
  }

  /** Waits for the batches still being sent; throws what a send failed with. */
  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  /**
   * When the last unanswered probe's own timeout runs out: the latest of each such target's last send plus
   * its timeout. (A target's earlier probes in the pass went out before its last one, so they are covered.)
   */
  private lateAnswerDeadline(): number {
    const { unanswered, lastSent, timeouts } = this;
    let deadline = 0;
    for (let t = 0; t < unanswered.length; t++) {
      if (unanswered[t] === 0) continue;
      const d = lastSent[t]! + timeouts.timeoutOf(t);
      if (d > deadline) deadline = d;
    }
    return deadline;
  }

  /**
   * Waits until every probe has its answer or its own timeout has run out. Timeouts adapt as answers come
   * (a target's first answer usually shortens its wait from the initial second), so the deadline is worked
   * out again whenever answers arrived.
   */
  private async waitForAnswers(): Promise<void> {
    const signal = this.options.signal;
    let counted = -1;
    let deadline = 0;
    for (;;) {
      if (signal?.aborted || this.outstanding === 0) return;
      if (this.outstanding !== counted) {
        counted = this.outstanding;
        deadline = this.lateAnswerDeadline();
      }
      const now = native.monotonicMs();
      if (now >= deadline) return;
      await sleep(Math.max(1, Math.min(20, deadline - now)));
    }
  }

  private onPackets(outbox: Outbox, data: Buffer, meta: Float64Array, count: number): void {
    const { ctx, answer } = this;
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
      const k = t * this.p + pi;
      if (!valid || this.isAnswered(k)) {
        ctx.packetsIgnored++;
        continue;
      }
      this.answered[Math.floor(k / 8)]! |= 1 << (k % 8);
      this.outstanding--;
      this.unanswered[t]!--;
      ctx.packetsReceived++;
      ctx.progress.answered++;
      const position = this.perm.positionOf(k);
      const sentAt = this.sendLog.sentAt(position);
      const rtt = Number.isNaN(sentAt) ? null : Math.max(0, meta[base + 2]! - sentAt);
      // Only a probe sent once tells its round trip (Karn): a retransmitted one may be answering the first.
      const sentOnce = this.sendLog.reached(position) ? this.pass === 0 : this.pass === 1;
      if (rtt !== null && sentOnce) this.timeouts.sample(t, rtt);
      ctx.port(answer.target, answer.port, answer.outcome, answer.ttl, rtt, answer.from);
    }
  }

  /** filtered / no-response for every probe of a scanned target that never got an answer. */
  private async reportUnanswered(): Promise<void> {
    const { ctx, plan } = this;
    const p = this.p;
    let emitted = 0;
    for (let t = 0; t < plan.channelOf.length; t++) {
      if (plan.channelOf[t] === 0) continue;
      const ip = ctx.targets.at(t);
      for (let pi = 0; pi < p; pi++) {
        if (this.isAnswered(t * p + pi)) continue;
        ctx.port(ip, ctx.ports[pi]!, FILTERED_NO_RESPONSE, null, null);
        if (++emitted % 1024 === 0) await ctx.room();
      }
    }
  }
}
