// How many probes may be out at once when the user set no rate: a congestion window over the probes in
// flight, grown by answers and cut by loss, as nmap's scan engine does after TCP's (RFC 2581; nmap timing.cc).
// It grows by one probe per answer (slow start: doubling per round trip) up to a threshold, then by about one
// probe per round trip; a sign of loss (a retransmitted probe answered, the interface refusing packets) halves
// it, at most once per burst. When few probes get answers (a mostly filtered scan), each answer counts for
// more, as nmap's cc_scale does, so a quiet network does not keep the window small for nothing. The engine
// counts the probes in flight (sent, neither answered nor past their timeout); this only sizes the window.

export interface CongestionOptions {
  /** the window to start with, probes */
  initialWindow: number;
  /** never below this, probes */
  minWindow: number;
  /** never above this, probes */
  maxWindow: number;
  /** slow start ends at this window until the first loss */
  initialSsthresh: number;
  /** the largest scale of a window increment when few probes get answers (nmap's cc_scale_max: 50) */
  maxScale: number;
}

/**
 * The scan's defaults. Larger than nmap's (10 to start, 300 at most): wireprobe's answers are matched
 * statelessly, so a big window costs nothing but packets, and on a LAN a window of 300 would hold a one-host
 * scan below what the link and the host take.
 */
export const CONGESTION_DEFAULTS: CongestionOptions = {
  initialWindow: 64,
  minWindow: 16,
  maxWindow: 16384,
  initialSsthresh: 4096,
  maxScale: 50,
};

/** the least time between two cuts of the window, ms */
const LOSS_SPACING_MS = 50;

export class Congestion {
  /** the window, probes (fractional: congestion avoidance adds 1/window per answer) */
  window: number;
  /** the largest window reached */
  peakWindow: number;
  /** losses seen */
  losses = 0;
  private ssthresh: number;
  /** answers that could have come (answered + timed out), and answers that came: they scale increments */
  private expected = 0;
  private received = 0;
  private lastLoss = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: CongestionOptions = CONGESTION_DEFAULTS) {
    this.window = clamp(options.initialWindow, options.minWindow, options.maxWindow);
    this.ssthresh = options.initialSsthresh;
    this.peakWindow = this.window;
  }

  /** The window as a whole number of probes. */
  limit(): number {
    return Math.floor(this.window);
  }

  /**
   * A probe was answered at `now`. `retransmitted`: it had been sent more than once, so an earlier attempt
   * went unanswered, which nmap takes as a loss; `inFlight`: probes in flight at that moment.
   */
  answered(retransmitted: boolean, now: number, inFlight: number): void {
    this.received++;
    this.expected++;
    if (retransmitted) {
      this.loss(now, inFlight);
      return;
    }
    const scale = Math.min(this.options.maxScale, this.expected / this.received);
    this.window += this.window < this.ssthresh ? scale : scale / this.window;
    if (this.window > this.options.maxWindow) this.window = this.options.maxWindow;
    if (this.window > this.peakWindow) this.peakWindow = this.window;
  }

  /** `count` probes went past their timeout unanswered. */
  timedOut(count: number): void {
    this.expected += count;
  }

  /**
   * A loss at `now` (see answered; also a full interface queue). One burst of losses is one reaction: the
   * window is cut at most once per LOSS_SPACING_MS, or a round trip's worth of answers to one overload would
   * cut it to nothing.
   */
  loss(now: number, inFlight: number): void {
    this.losses++;
    if (now - this.lastLoss < LOSS_SPACING_MS) return;
    this.lastLoss = now;
    this.ssthresh = Math.max(this.options.minWindow, Math.floor(inFlight / 1.5));
    this.window = Math.max(this.options.minWindow, this.window / 2);
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
