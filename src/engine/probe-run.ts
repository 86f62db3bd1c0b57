import type { SummaryRecord } from "../records";

/** A running probe: iterate it for records; `summary` is set once iteration has finished. */
export interface ProbeRun<T> extends AsyncIterable<T> {
  readonly summary: SummaryRecord | undefined;
}

/** Live counters of a scan (`ScanRun.progress`), for a progress line. */
export interface ScanProgress {
  phase: "resolving" | "arp" | "scanning" | "waiting" | "done";
  /** target x port pairs to probe (targets found down excluded), known once the scan phase starts */
  probesTotal: number;
  /** first probes sent so far (retransmissions not counted) */
  probesSent: number;
  /** probes that got their answer */
  answered: number;
  retransmissions: number;
}
