import type { ResultQueue } from "./result-queue";

/** The three phases every probe engine has. */
export interface ProbeSteps {
  /** checks and opens what the probe needs; throws UsageError / EnvironmentError before anything is sent */
  setup(): void;
  /** sends, receives and pushes records into the queue; resolves when the probe is done */
  drive(): Promise<void>;
  /** releases every socket and handle; runs however the iteration ends (done, error, break, abort) */
  close(): void;
}

/**
 * Runs a probe engine as an async generator: records are yielded as the engine pushes them, an engine
 * failure surfaces in the caller's loop, and `close` runs even when the caller stops early.
 */
export async function* runProbe<T>(queue: ResultQueue<T>, steps: ProbeSteps): AsyncGenerator<T> {
  try {
    steps.setup();
    const driving = steps.drive().then(
      () => queue.end(),
      (err: unknown) => queue.end(err),
    );
    yield* queue.drain();
    await driving;
  } finally {
    steps.close();
  }
}
