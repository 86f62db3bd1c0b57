import type { Writable } from "node:stream";

/** One JSON object per line: the machine-readable form of every record. */
export function writeRecord(out: Writable, record: object): void {
  out.write(`${JSON.stringify(record)}\n`);
}
