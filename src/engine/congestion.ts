// How many probes may be out at once when the user set no rate: a congestion window over the probes in
// flight, grown by answers and cut by loss, as nmap's scan engine does after TCP's (RFC 2581; nmap timing.cc).
// It starts small and doubles per round trip while answers come (slow start), then grows by about one probe
// per round trip; a sign of loss (a retransmitted probe answered, the interface refusing packets, the
// kernel dropping answers) halves it. The window counts a probe as in flight from its send until its answer
// or its timeout, so a silent range cannot pile up probes either: then the floor rate applies.
//
// The bookkeeping is per send batch, not per probe: memory is a few numbers per batch still in flight.

export interface CongestionOptions {
  /** the window to start with, probes (nmap: 10) */
  initialWindow: number;
  /** the largest window, probes */
  maxWindow: number;
  /** slow start ends at this window until the first loss (nmap: 75) */
  initialSsthresh: number;
  /** the largest scale of a window increment when few probes get answers (nmap's cc_scale_max: 50) */
  maxScale: number;
}

export const CONGESTION_DEFAULTS: CongestionOptions = {
  initialWindow: 10,
  maxWindow: 2000,
  initialSsthresh: 75,
  maxScale: 50,
};

/** the least time between two cuts of the window, ms */
const LOSS_SPACING_MS = 50;

export class Congestion {
  /** the window, probes (fractional: congestion avoidance adds 1/window per answer) */
  window: number;
  private ssthresh: number;
  /** probes sent whose answer or timeout has not come yet */
  private inFlight = 0;
  /** answers that could have come (answered + timed out), and answers that came: they scale increments */
  private expected = 0;
  private received = 0;
  /** batches in flight: positions [from, to), when they went, what is still unanswered */
  private readonly batches: Array<{ from: number; to: number; at: number; open: number }> = [];
  private head = 0;
  /** losses seen, for the summary */
  drops = 0;
  private lastLoss = Number.NEGATIVE_INFINITY;
  /** the largest window reached */
  peakWindow: number;

  constructor(private readonly options: CongestionOptions = CONGESTION_DEFAULTS) {
    this.window = options.initialWindow;
    this.ssthresh = options.initialSsthresh;
    this.peakWindow = this.window;
  }

  /** How many more probes may go now. */
  allowance(): number {
    return Math.max(0, Math.floor(this.window) - this.inFlight);
  }

  /** `count` probes at positions [from, to) of the order went out at `at`. */
  sent(from: number, to: number, count: number, at: number): void {
    if (count <= 0) return;
    this.batches.push({ from, to, at, open: count });
    this.inFlight += count;
  }

  /**
   * The probe at `position` was answered at `now`. `retransmitted`: it had been sent more than once, so an
   * earlier attempt went unanswered: nmap takes that as a loss.
   */
  answered(position: number, retransmitted: boolean, now: number): void {
    this.received++;
    this.expected++;
    for (let k = this.batches.length - 1; k >= this.head; k--) {
      const b = this.batches[k]!;
      if (position >= b.from && position < b.to && b.open > 0) {
        b.open--;
        this.inFlight--;
        break;
      }
    }
    if (retransmitted) {
      this.loss(now);
      return;
    }
    const scale = Math.min(this.options.maxScale, this.expected / this.received);
    if (this.window < this.ssthresh) this.window += scale;
    else this.window += scale / this.window;
    if (this.window > this.options.maxWindow) this.window = this.options.maxWindow;
    if (this.window > this.peakWindow) this.peakWindow = this.window;
  }

  /** Probes sent before `deadline` that are still unanswered have timed out: they leave the window. */
  expire(deadline: number): void {
    while (this.head < this.batches.length && this.batches[this.head]!.at <= deadline) {
      const b = this.batches[this.head++]!;
      this.inFlight -= b.open;
      this.expected += b.open;
      b.open = 0;
    }
    if (this.head > 1024 && this.head * 2 > this.batches.length) {
      this.batches.splice(0, this.head);
      this.head = 0;
    }
  }

  /**
   * A loss at `now`: the interface refused packets, the kernel dropped answers, or a retransmission was
   * answered. One burst of losses is one reaction: the window is cut at most once per LOSS_SPACING_MS (a round
   * trip's worth of answers to the same overload would otherwise cut it to nothing).
   */
  loss(now: number): void {
    this.drops++;
    if (now - this.lastLoss < LOSS_SPACING_MS) return;
    this.lastLoss = now;
    this.ssthresh = Math.max(2, Math.floor(this.inFlight / 1.5));
    this.window = Math.max(1, this.window / 2);
  }
}
