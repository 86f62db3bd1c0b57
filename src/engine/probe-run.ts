import type { SummaryRecord } from "../records";

/** A running probe: iterate it for records; `summary` is set once iteration has finished. */
export interface ProbeRun<T> extends AsyncIterable<T> {
  readonly summary: SummaryRecord | undefined;
}

/** The public face of a probe module: its records to iterate (once), and its summary when done. */
export function probeRun<T>(module: {
  readonly summary: SummaryRecord | undefined;
  run(): AsyncGenerator<T>;
}): ProbeRun<T> {
  return {
    get summary() {
      return module.summary;
    },
    [Symbol.asyncIterator]: () => module.run(),
  };
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
