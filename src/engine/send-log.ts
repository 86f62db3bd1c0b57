// When each batch of probes went out, by permutation position, for the current pass and the one before:
// an answer's probe index maps back to its position (Permutation.positionOf), and the batch holding that
// position gives the send time. One entry per batch, not per probe: memory grows by 32 bytes per batch.
// A batch is handed to the kernel at one moment but its frames leave one after the other (on a veth the
// kernel runs the whole path to the peer for each, microseconds apiece), so a probe's send time is
// interpolated between the batch's start and the moment its last frame went, by its place in the batch.

function grow(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

class Checkpoints {
  /** per batch: first position, first position after it, start time, time the last frame went */
  from: Float64Array = new Float64Array(1024);
  to: Float64Array = new Float64Array(1024);
  start: Float64Array = new Float64Array(1024);
  end: Float64Array = new Float64Array(1024);
  length = 0;

  add(from: number, to: number, time: number): number {
    if (this.length === this.from.length) {
      this.from = grow(this.from);
      this.to = grow(this.to);
      this.start = grow(this.start);
      this.end = grow(this.end);
    }
    this.from[this.length] = from;
    this.to[this.length] = to;
    this.start[this.length] = time;
    this.end[this.length] = time;
    return this.length++;
  }

  /** the send time of the probe at `position`, NaN when no batch holds it */
  timeOf(position: number): number {
    let lo = 0;
    let hi = this.length - 1;
    if (hi < 0 || this.from[0]! > position) return Number.NaN;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.from[mid]! <= position) lo = mid;
      else hi = mid - 1;
    }
    const span = this.to[lo]! - this.from[lo]!;
    const share = span > 0 ? (position - this.from[lo]!) / span : 0;
    return this.start[lo]! + (this.end[lo]! - this.start[lo]!) * share;
  }

  clear(): void {
    this.length = 0;
  }
}

export class SendLog {
  private current = new Checkpoints();
  private previous = new Checkpoints();
  /** the first position the current pass has not reached yet */
  private frontier = 0;

  /** A new pass starts at position 0; the finished one stays available for late answers. */
  newPass(): void {
    const old = this.previous;
    this.previous = this.current;
    this.current = old;
    this.current.clear();
    this.frontier = 0;
  }

  /**
   * Probes at positions [from, to) were handed to the kernel at `time` (ms, CLOCK_MONOTONIC). Returns a handle
   * for finished().
   */
  record(from: number, to: number, time: number): { pass: Checkpoints; index: number } {
    this.frontier = to;
    return { pass: this.current, index: this.current.add(from, to, time) };
  }

  /**
   * The last frame of a recorded batch went out at `time`; `startMs`, when given, is when the sender really
   * began (after it built the frames): later than the recorded time, it replaces it.
   */
  finished(batch: { pass: Checkpoints; index: number }, time: number, startMs = Number.NaN): void {
    const { pass, index } = batch;
    if (index >= pass.length) return;
    if (startMs > pass.start[index]!) pass.start[index] = startMs;
    if (time > pass.start[index]!) pass.end[index] = time;
    else pass.end[index] = pass.start[index]!;
  }

  /** Whether the current pass has sent the probe at `position` (if it is one the pass sends). */
  reached(position: number): boolean {
    return position < this.frontier;
  }

  /**
   * When the probe at `position` last went out: in this pass if the pass has reached it (an unanswered probe
   * is sent again in every pass), else in the previous one. NaN when unknown.
   */
  sentAt(position: number): number {
    return position < this.frontier ? this.current.timeOf(position) : this.previous.timeOf(position);
  }
}
