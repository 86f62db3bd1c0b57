import type { SummaryRecord } from "../records";

// The summary record, built in one place: every command's totals are counted and rounded the same way.

export interface SummaryCounts {
  command: string;
  targets: number;
  states: Record<string, number>;
  packetsSent: number;
  packetsReceived: number;
  packetsDropped: number;
  durationMs: number;
  aborted: boolean;
}

/** The summary record of a run; `extra` adds a command's own fields (scan's method, ports, ...). */
export function summaryRecord(
  counts: SummaryCounts,
  extra: Partial<Omit<SummaryRecord, keyof SummaryCounts | "type" | "rate">> = {},
): SummaryRecord {
  const { durationMs, packetsSent } = counts;
  return {
    type: "summary",
    command: counts.command,
    targets: counts.targets,
    states: { ...counts.states },
    packetsSent,
    packetsReceived: counts.packetsReceived,
    packetsDropped: counts.packetsDropped,
    durationMs: Math.round(durationMs * 10) / 10,
    rate: durationMs > 0 ? Math.round((packetsSent * 1000) / durationMs) : 0,
    ...(counts.aborted ? { aborted: true } : {}),
    ...extra,
  };
}

/** Answers the kernel dropped for these sockets since their last count (a closed socket counts 0). */
export function kernelDrops(...sockets: Array<{ stats(): { drops: number } } | null | undefined>): number {
  let drops = 0;
  for (const socket of sockets) {
    try {
      drops += socket?.stats().drops ?? 0;
    } catch {
      // closed already: nothing more to count
    }
  }
  return drops;
}
