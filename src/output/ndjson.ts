import { once } from "node:events";
import type { Writable } from "node:stream";

/** One JSON object per line: the machine-readable form of every record. */
export function writeRecord(out: Writable, record: object): void {
  out.write(`${JSON.stringify(record)}\n`);
}

/**
 * NDJSON with writes gathered into chunks: a sweep yields tens of thousands of records, and one write per
 * record to a file or pipe costs more than the probing. Records still go out on the same event-loop turn
 * they arrive in, so a reader sees results as they are found.
 */
export class NdjsonWriter {
  private chunk = "";
  private scheduled = false;

  constructor(
    private readonly out: Writable,
    private readonly highWater = 64 * 1024,
  ) {}

  write(record: object): void {
    this.chunk += `${JSON.stringify(record)}\n`;
    if (this.chunk.length >= this.highWater) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.chunk === "") return;
    this.out.write(this.chunk);
    this.chunk = "";
  }

  /** Resolves when the output has taken what was written (a slow pipe must not make memory grow). */
  async drained(): Promise<void> {
    // Ask the stream rather than remember write()'s answer: a 'drain' that already fired must not be
    // waited for.
    while (this.out.writableNeedDrain && !this.out.destroyed) await once(this.out, "drain");
  }
}
