// When each batch of probes went out, by permutation position, for the current pass and the one before:
// an answer's probe index maps back to its position (Permutation.positionOf), and the batch holding that
// position gives the send time. One entry per batch, not per probe, so a scan keeps exact round-trip times
// with memory that grows by 16 bytes per few hundred probes.

class Checkpoints {
  positions = new Float64Array(1024);
  times = new Float64Array(1024);
  length = 0;

  add(position: number, time: number): void {
    if (this.length === this.positions.length) {
      const positions = new Float64Array(this.length * 2);
      positions.set(this.positions);
      this.positions = positions;
      const times = new Float64Array(this.length * 2);
      times.set(this.times);
      this.times = times;
    }
    this.positions[this.length] = position;
    this.times[this.length] = time;
    this.length++;
  }

  /** the time of the last batch that started at or before `position`, NaN when none did */
  timeOf(position: number): number {
    let lo = 0;
    let hi = this.length - 1;
    if (hi < 0 || this.positions[0]! > position) return Number.NaN;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.positions[mid]! <= position) lo = mid;
      else hi = mid - 1;
    }
    return this.times[lo]!;
  }

  clear(): void {
    this.length = 0;
  }
}

export class SendLog {
  private current = new Checkpoints();
  private previous = new Checkpoints();
  /** the first position the current pass has not reached yet */
  private reached = 0;

  /** A new pass starts at position 0; the finished one stays available for late answers. */
  newPass(): void {
    const old = this.previous;
    this.previous = this.current;
    this.current = old;
    this.current.clear();
    this.reached = 0;
  }

  /** Probes at positions [from, to) went out at `time` (ms, CLOCK_MONOTONIC). */
  record(from: number, to: number, time: number): void {
    this.current.add(from, time);
    this.reached = to;
  }

  /**
   * When the probe at `position` last went out: in this pass if the pass has reached it (an unanswered probe
   * is sent again in every pass), else in the previous one. NaN when unknown.
   */
  sentAt(position: number): number {
    return position < this.reached ? this.current.timeOf(position) : this.previous.timeOf(position);
  }
}
