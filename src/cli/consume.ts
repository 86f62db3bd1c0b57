import type { Writable } from "node:stream";
import { type ProbeRun, readBatches } from "../engine/probe-run";
import { NdjsonWriter } from "../output/ndjson";

/**
 * Runs a probe to its end for a command. With `json`, every record goes to `out` as NDJSON as it comes
 * (waiting for a slow reader, so memory stays flat), then the summary; otherwise the records are collected
 * and returned for the human report. `onRecord` sees every record either way (for the exit code).
 */
export async function consume<T extends object>(
  run: ProbeRun<T>,
  out: Writable,
  options: { json: boolean; onRecord?: (record: T) => void },
): Promise<T[]> {
  const ndjson = new NdjsonWriter(out);
  const records: T[] = [];
  for await (const batch of readBatches(run)) {
    for (const r of batch) {
      options.onRecord?.(r);
      if (options.json) ndjson.write(r);
      else records.push(r);
    }
    if (options.json) await ndjson.drained();
  }
  if (options.json) {
    if (run.summary) ndjson.write(run.summary);
    ndjson.flush();
  }
  return records;
}
