import type { ResultQueue } from "./result-queue";

/** The three phases every probe has. */
export interface ProbeSteps {
  /**
   * checks and opens what the probe needs; throws (or rejects with) UsageError / EnvironmentError before anything
   * is sent. May be async, so that what it asks the kernel (links, routes) is asked off the JS thread.
   */
  setup(): void | Promise<void>;
  /**
   * sends, receives and pushes records into the queue; resolves when the probe is done. `stop` aborts when
   * the caller's signal does or when the reader stops iterating early: the drive then winds down (the
   * engine's run() settles once no send is under way) and resolves.
   */
  drive(stop: AbortSignal): Promise<void>;
  /** releases every socket and handle; runs however the iteration ends (done, error, break, abort) */
  close(): void;
}

/**
 * Runs a probe as an async generator: records are yielded as the probe pushes them, a failure surfaces in the
 * caller's loop, and `close` runs when the iteration ends however it ends, but never before the drive has
 * settled: a send still under way on a worker thread must not find its socket closed (or its fd number
 * reused by the next socket).
 */
export function runProbe<T>(
  queue: ResultQueue<T>,
  steps: ProbeSteps,
  signal?: AbortSignal,
): AsyncGenerator<T> {
  return runSteps(steps, signal, queue, () => queue.drain());
}

/** runProbe, with the records handed over in arrays (ResultQueue.drainBatches). */
export function runProbeBatches<T>(
  queue: ResultQueue<T>,
  steps: ProbeSteps,
  signal?: AbortSignal,
): AsyncGenerator<T[]> {
  return runSteps(steps, signal, queue, () => queue.drainBatches());
}

async function* runSteps<T, X>(
  steps: ProbeSteps,
  signal: AbortSignal | undefined,
  queue: ResultQueue<T>,
  drain: () => AsyncGenerator<X>,
): AsyncGenerator<X> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  let driving: Promise<void> | null = null;
  let settled = false;
  try {
    if (signal?.aborted) stop.abort(signal.reason);
    else signal?.addEventListener("abort", onAbort, { once: true });
    await steps.setup();
    driving = steps.drive(stop.signal).then(
      () => {
        settled = true;
        queue.end();
      },
      (err: unknown) => {
        settled = true;
        queue.end(err);
      },
    );
    yield* drain();
    await driving;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (driving !== null && !settled) {
      // The reader stopped early (break, or a throw in its loop): stop the drive, let it wind down, then close.
      stop.abort(new Error("the reader stopped"));
      queue.abandon();
      await driving;
    }
    steps.close();
  }
}
