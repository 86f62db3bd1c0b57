import { intToIpv4 } from "../../addr/address";
import type { TargetSet } from "../../addr/target-set";
import type { Engine, EngineCounters, EngineStage } from "../../engine/engine";
import type { ScanProgress } from "../../engine/probe-run";
import { ResultQueue } from "../../engine/result-queue";
import { summaryRecord } from "../../engine/summary";
import { outcomeReason, outcomeState } from "../../port-outcomes";
import type { HostRecord, PortRecord, SummaryRecord } from "../../records";

// What the scan modules (SYN, connect, UDP) share: the record queue, the counts that are the scan's own (port
// states, hosts down, packets dropped or ignored), the progress and the summary (read from the engines'
// counters once the probing has started: a -sS -sU run has a TCP and then a UDP engine), and the one place
// where port and host records are made.

/** records waiting for the reader before the scan stops sending until it catches up */
export const QUEUE_LIMIT = 8192;

const PHASE_OF_STAGE: Readonly<Record<EngineStage, ScanProgress["phase"]>> = {
  idle: "scanning",
  sending: "scanning",
  waiting: "waiting",
  done: "done",
};

/** Live counters of a running scan (for progress displays). */
export class ScanContext {
  readonly queue = new ResultQueue<PortRecord | HostRecord>();
  /** per state; open|filtered only when UDP ports are scanned (a TCP scan's summary stays as it was) */
  readonly states: Partial<Record<PortRecord["state"], number>> = { open: 0, closed: 0, filtered: 0 };
  /** the protocol of the module probing now (each runs in turn, TCP first) */
  protocol: PortRecord["protocol"] = "tcp";
  /** UDP: open|filtered ports of targets that sent port unreachables (counted by the UDP module) */
  mayBeRateLimited = 0;
  /** before the probing starts: resolving targets, finding next hops; then the engine says */
  phase: "resolving" | "arp" | "done" = "resolving";
  hostsDown = 0;
  packetsDropped = 0;
  packetsIgnored = 0;
  /** one shard of a split scan: "I/N", for the summary (set by scan()) */
  shard: string | undefined;
  /** how the probes were paced, for the summary (set by scan()) */
  pacing: NonNullable<SummaryRecord["pacing"]> = "adaptive";
  readonly startMs: number;
  private engine: Engine | null = null;
  /** target x port pairs to probe (targets found down excluded) */
  private probesTotal = 0;
  /** the counters of the engines that finished before this one (TCP's, in a -sS -sU run) */
  private readonly earlier: EngineCounters = { sent: 0, retransmissions: 0, answered: 0, live: 0 };
  private earlierProbes = 0;

  constructor(
    readonly targets: TargetSet,
    /** the TCP ports scanned (empty for a UDP-only scan) */
    readonly ports: Uint16Array,
    readonly names: ReadonlyMap<number, string>,
    now: number,
    /** the UDP ports scanned (-sU), empty without */
    readonly udpPorts: Uint16Array = new Uint16Array(0),
  ) {
    this.startMs = now;
    if (udpPorts.length > 0) this.states["open|filtered"] = 0;
  }

  /** The probing starts: `probes` pairs to probe, the engine that sends them and counts. */
  probing(engine: Engine, probes: number): void {
    const before = this.engine?.counters;
    if (before) {
      this.earlier.sent += before.sent;
      this.earlier.retransmissions += before.retransmissions;
      this.earlier.answered += before.answered;
      this.earlierProbes = this.probesTotal;
    }
    this.engine = engine;
    this.probesTotal = this.earlierProbes + probes;
  }

  /** The counters of every engine so far, added up. */
  private counters(): EngineCounters | undefined {
    const c = this.engine?.counters;
    if (c === undefined) return undefined;
    const e = this.earlier;
    return {
      sent: e.sent + c.sent,
      retransmissions: e.retransmissions + c.retransmissions,
      answered: e.answered + c.answered,
      live: c.live,
    };
  }

  get progress(): ScanProgress {
    const e = this.engine;
    const c = this.counters();
    return {
      phase: e === null || this.phase === "done" ? this.phase : PHASE_OF_STAGE[e.stage],
      probesTotal: this.probesTotal,
      probesSent: c === undefined ? 0 : c.sent - c.retransmissions,
      answered: c?.answered ?? 0,
      retransmissions: c?.retransmissions ?? 0,
    };
  }

  /** A port's record; `rttMs` null or NaN when the round trip is not known. */
  port(ip: number, port: number, outcome: number, ttl: number | null, rttMs: number | null, from = ip): void {
    const state = outcomeState(outcome);
    const rtt = rttMs === null || Number.isNaN(rttMs) ? null : Math.round(rttMs * 1000) / 1000;
    const target = intToIpv4(ip);
    // The usual record (no name, answered by the target itself) as one literal: a sweep makes one per answer.
    const record: PortRecord =
      from === ip && (this.names.size === 0 || !this.names.has(ip))
        ? {
            type: "port",
            target,
            port,
            protocol: this.protocol,
            state,
            reason: outcomeReason(outcome),
            ttl,
            rttMs: rtt,
          }
        : {
            type: "port",
            target,
            ...(this.names.has(ip) ? { hostname: this.names.get(ip)! } : {}),
            port,
            protocol: this.protocol,
            state,
            reason: outcomeReason(outcome),
            ttl,
            rttMs: rtt,
            ...(from !== ip ? { reasonIp: intToIpv4(from) } : {}),
          };
    this.states[state] = (this.states[state] ?? 0) + 1;
    this.queue.push(record);
  }

  /** An IPv6 target's port record: the address (and the error's sender, when not the target) as text. */
  port6(
    target: string,
    port: number,
    outcome: number,
    ttl: number | null,
    rttMs: number | null,
    from = target,
  ): void {
    const state = outcomeState(outcome);
    const rtt = rttMs === null || Number.isNaN(rttMs) ? null : Math.round(rttMs * 1000) / 1000;
    this.states[state] = (this.states[state] ?? 0) + 1;
    this.queue.push({
      type: "port",
      target,
      port,
      protocol: this.protocol,
      state,
      reason: outcomeReason(outcome),
      ttl,
      rttMs: rtt,
      ...(from !== target ? { reasonIp: from } : {}),
    });
  }

  host(target: string, reason: string, hostname?: string): void {
    this.hostsDown++;
    this.queue.push({
      type: "host",
      target,
      ...(hostname === undefined ? {} : { hostname }),
      state: "down",
      reason,
    });
  }

  /** Pauses a producer until the reader has caught up (memory stays flat whatever the scan's size). */
  async room(): Promise<void> {
    if (this.queue.length > QUEUE_LIMIT) await this.queue.waitForRoom(QUEUE_LIMIT / 2);
  }

  summary(
    method: "syn" | "connect" | "udp",
    nowMs: number,
    aborted: boolean,
    unresolved: number,
  ): SummaryRecord {
    const counters = this.counters();
    return summaryRecord(
      {
        command: "scan",
        targets: this.targets.size + unresolved,
        states: this.states as Record<string, number>,
        packetsSent: counters?.sent ?? 0,
        packetsReceived: counters?.answered ?? 0,
        packetsDropped: this.packetsDropped,
        durationMs: nowMs - this.startMs,
        aborted,
      },
      {
        method,
        ports: this.ports.length + this.udpPorts.length,
        probes: this.probesTotal,
        hostsDown: this.hostsDown,
        retransmissions: counters?.retransmissions ?? 0,
        packetsIgnored: this.packetsIgnored,
        pacing: this.pacing,
        ...(this.shard === undefined ? {} : { shard: this.shard }),
        ...(this.engine?.congestion ? { peakWindow: Math.floor(this.engine.congestion.peakWindow) } : {}),
        ...(this.udpPorts.length > 0
          ? { udpPorts: this.udpPorts.length, mayBeRateLimited: this.mayBeRateLimited }
          : {}),
      },
    );
  }
}
