// A token bucket for packets per second. Timers in Node fire at millisecond granularity at best, so the
// sender asks "how many may go now" on each tick and sends that many in one batch instead of sleeping
// between packets.

export class Pacer {
  private tokens: number;
  private last: number;

  /** rate 0 means unlimited; burst caps how much unused allowance can pile up */
  constructor(
    private readonly rate: number,
    private readonly burst = Math.max(1, Math.ceil(rate / 100)),
    now = performance.now(),
  ) {
    this.tokens = Math.min(this.burst, 1);
    this.last = now;
  }

  /** How many packets may be sent now (at most `want`). Call take() with what was really sent. */
  allowance(want: number, now = performance.now()): number {
    if (this.rate === 0) return want;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    return Math.min(want, Math.floor(this.tokens));
  }

  take(sent: number): void {
    if (this.rate !== 0) this.tokens -= sent;
  }

  /** Milliseconds until at least one packet may go. */
  waitMs(): number {
    if (this.rate === 0 || this.tokens >= 1) return 0;
    return Math.ceil(((1 - this.tokens) * 1000) / this.rate);
  }
}
