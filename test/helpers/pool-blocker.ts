// Holds libuv's thread pool, so that work queued meanwhile (a send handed to a worker thread) certainly runs
// later, at a moment the test chooses, rather than within microseconds.

import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const POOL = Number(process.env.UV_THREADPOOL_SIZE) || 4;

/**
 * FIFOs without a writer: block() occupies every thread of libuv's pool with an open() of one (it waits for
 * a writer), so work queued afterwards waits; release() opens the write ends and lets everything run.
 * The FIFOs are made beforehand, so block() itself takes no time.
 */
export function threadPoolBlocker(): { block(): void; release(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), "wp-pool-"));
  const fifos = Array.from({ length: POOL }, (_, k) => join(dir, `f${k}`));
  for (const f of fifos) execFileSync("mkfifo", [f]);
  let opens: Promise<FileHandle>[] | null = null;
  let released: Promise<void> | null = null;
  return {
    block() {
      opens ??= fifos.map((f) => open(f, "r"));
    },
    release() {
      released ??= (async () => {
        if (opens !== null) {
          // O_NONBLOCK: succeeds at once because a reader is waiting, and wakes it.
          const writers = fifos.map((f) => openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
          const readers = await Promise.all(opens);
          for (const w of writers) closeSync(w);
          await Promise.all(readers.map((r) => r.close()));
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return released;
    },
  };
}
