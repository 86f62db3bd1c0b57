import { once } from "node:events";
import type { Writable } from "node:stream";

// NDJSON records for a scan's stdout and -oJ file: lines gathered into 64 KiB writes (one write per record
// would cost more than the scan), flushed on the next turn so a reader still sees results as they come, and
// a drained() that waits only while the stream really is full (writableNeedDrain), so a 'drain' that came
// and went between two checks can never leave the scan waiting for good.

export class RecordStream {
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

  /** Resolves once the stream has room again (at once when it has). */
  async drained(): Promise<void> {
    while (this.out.writableNeedDrain && !this.out.destroyed) await once(this.out, "drain");
  }
}
