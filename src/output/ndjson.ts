import type { Writable } from "node:stream";

/**
 * Writes without throwing: a stream that fails synchronously (stdout on a full disk) is destroyed with the
 * error instead, so its 'error' listeners decide, and a destroyed stream (a closed pipe) takes nothing.
 */
export function safeWrite(out: Writable, chunk: string): void {
  if (out.destroyed) return;
  try {
    out.write(chunk);
  } catch (err) {
    out.destroy(err as Error);
  }
}

/**
 * Resolves when the stream has taken what was written (a slow pipe must not make memory grow), or when it
 * is closed or failed: a reader that went away must not leave the writer waiting for ever.
 */
export async function drained(out: Writable): Promise<void> {
  // Ask the stream rather than remember write()'s answer: a 'drain' that already fired must not be
  // waited for.
  while (out.writableNeedDrain && !out.destroyed) {
    await new Promise<void>((resolve) => {
      const done = () => {
        out.off("drain", done);
        out.off("close", done);
        out.off("error", done);
        resolve();
      };
      out.on("drain", done);
      out.on("close", done);
      out.on("error", done);
    });
  }
}

/** One JSON object per line: the machine-readable form of every record. */
export function writeRecord(out: Writable, record: object): void {
  safeWrite(out, `${JSON.stringify(record)}\n`);
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
    safeWrite(this.out, this.chunk);
    this.chunk = "";
  }

  /** Resolves when the output has taken what was written, or is gone. */
  drained(): Promise<void> {
    return drained(this.out);
  }
}
