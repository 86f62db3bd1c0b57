import { intToIpv4 } from "../../addr/address";
import type { TargetSet } from "../../addr/target-set";
import type { ScanProgress } from "../../engine/probe-run";
import { ResultQueue } from "../../engine/result-queue";
import { outcomeReason, outcomeState } from "../../port-outcomes";
import type { HostRecord, PortRecord, SummaryRecord } from "../../records";

// What both scan engines (SYN and connect) share: the record queue, the counters the summary and the
// progress line read, and the one place where port and host records are made.

/** records waiting for the reader before the scan stops sending until it catches up */
export const QUEUE_LIMIT = 8192;

/** Live counters of a running scan (for progress displays). */
export class ScanContext {
  readonly queue = new ResultQueue<PortRecord | HostRecord>();
  readonly states: Record<PortRecord["state"], number> = { open: 0, closed: 0, filtered: 0 };
  readonly progress: ScanProgress = {
    phase: "resolving",
    probesTotal: 0,
    probesSent: 0,
    answered: 0,
    retransmissions: 0,
  };
  hostsDown = 0;
  packetsSent = 0;
  packetsReceived = 0;
  packetsDropped = 0;
  packetsIgnored = 0;
  readonly startMs: number;

  constructor(
    readonly targets: TargetSet,
    readonly ports: Uint16Array,
    readonly names: ReadonlyMap<number, string>,
    now: number,
  ) {
    this.startMs = now;
  }

  port(ip: number, port: number, outcome: number, ttl: number | null, rttMs: number | null, from = ip): void {
    const state = outcomeState(outcome);
    const record: PortRecord = {
      type: "port",
      target: intToIpv4(ip),
      ...(this.names.size > 0 && this.names.has(ip) ? { hostname: this.names.get(ip)! } : {}),
      port,
      protocol: "tcp",
      state,
      reason: outcomeReason(outcome),
      ttl,
      rttMs: rttMs === null ? null : Math.round(rttMs * 1000) / 1000,
      ...(from !== ip ? { reasonIp: intToIpv4(from) } : {}),
    };
    this.states[state]++;
    this.queue.push(record);
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

  summary(method: "syn" | "connect", nowMs: number, aborted: boolean, unresolved: number): SummaryRecord {
    const durationMs = nowMs - this.startMs;
    return {
      type: "summary",
      command: "scan",
      targets: this.targets.size + unresolved,
      states: { ...this.states },
      packetsSent: this.packetsSent,
      packetsReceived: this.packetsReceived,
      packetsDropped: this.packetsDropped,
      durationMs: Math.round(durationMs * 10) / 10,
      rate: durationMs > 0 ? Math.round((this.packetsSent * 1000) / durationMs) : 0,
      ...(aborted ? { aborted: true } : {}),
      method,
      ports: this.ports.length,
      probes: this.progress.probesTotal,
      hostsDown: this.hostsDown,
      retransmissions: this.progress.retransmissions,
      packetsIgnored: this.packetsIgnored,
    };
  }
}
