import type { SummaryRecord } from "../records";

/**
 * Where a run that can hand its records over in arrays keeps that way (see readBatches): the same records as
 * iterating it, one await per array instead of one per record. Either way, a run is read once.
 */
export const RECORD_BATCHES: unique symbol = Symbol("wireprobe.recordBatches");

/**
 * A running probe: iterate it for records; `summary` is set once iteration has finished. A run is iterated
 * once; breaking out of the loop stops it and closes its sockets.
 *
 * @example
 * ```ts
 * import { type ArpRecord, type ProbeRun, arp } from "wireprobe";
 *
 * const run: ProbeRun<ArpRecord> = arp(["198.51.100.0/24"], { netns: "node1" });
 * for await (const record of run) if (record.state === "reply") console.log(record.target, record.mac);
 * console.log(run.summary?.states); // e.g. { reply: 3, "no-reply": 253 }
 * ```
 */
export interface ProbeRun<T> extends AsyncIterable<T> {
  /** the run's summary record, set once the iteration has finished (also after a break or an abort) */
  readonly summary: SummaryRecord | undefined;
  /**
   * the same records in arrays, where the run offers that (read them with readBatches)
   * @internal
   */
  readonly [RECORD_BATCHES]?: () => AsyncIterator<T[]>;
}

/** A run's records as arrays: in batches where the run offers them, else one record per array. */
export function readBatches<T>(run: AsyncIterable<T>): AsyncIterable<readonly T[]> {
  const batches = (run as ProbeRun<T>)[RECORD_BATCHES];
  if (batches !== undefined) return { [Symbol.asyncIterator]: () => batches.call(run) };
  return oneByOne(run);
}

async function* oneByOne<T>(run: AsyncIterable<T>): AsyncGenerator<readonly T[]> {
  for await (const r of run) yield [r];
}

/** The public face of a probe module: its records to iterate (once), and its summary when done. */
export function probeRun<T>(module: {
  readonly summary: SummaryRecord | undefined;
  run(): AsyncGenerator<T>;
  /** the same run, its records in arrays (see RECORD_BATCHES) */
  batches?(): AsyncGenerator<T[]>;
}): ProbeRun<T> {
  return {
    get summary() {
      return module.summary;
    },
    [Symbol.asyncIterator]: () => module.run(),
    ...(module.batches ? { [RECORD_BATCHES]: () => module.batches!() } : {}),
  };
}

/**
 * Live counters of a scan (`ScanRun.progress`), for a progress line.
 *
 * @example
 * ```ts
 * import { scan } from "wireprobe";
 *
 * const run = scan(["198.51.100.0/24"], { ports: "1-1024", netns: "node1" });
 * const timer = setInterval(() => {
 *   const p = run.progress;
 *   console.error(`${p.phase}: ${p.probesSent}/${p.probesTotal} sent, ${p.answered} answered`);
 * }, 1000);
 * for await (const r of run) if (r.type === "port" && r.state === "open") console.log(r.target, r.port);
 * clearInterval(timer);
 * ```
 */
export interface ScanProgress {
  /** resolving hostnames, finding next hops (ARP/NDP), sending probes, waiting for the last answers, done */
  phase: "resolving" | "arp" | "scanning" | "waiting" | "done";
  /** target x port pairs to probe (targets found down excluded), known once the scan phase starts */
  probesTotal: number;
  /** first probes sent so far (retransmissions not counted) */
  probesSent: number;
  /** probes that got their answer */
  answered: number;
  /** probes sent again because no answer came */
  retransmissions: number;
}
