// How long a probe waits for its answer, per target, the way nmap's scan engine adapts it (timing.cc,
// adjust_timeouts2, after RFC 6298): a smoothed round trip and its mean deviation per target, the timeout
// being srtt + 4 x rttvar, kept between a floor and the user's --timeout. A target that has answered nothing
// yet waits the initial timeout, so a slow host is never given up because a fast one answered quickly.
// Two Float32Arrays per target: memory stays flat in the number of probes.

/** nmap's initial_rtt_timeout: what a target that has not answered yet gets. */
export const INITIAL_TIMEOUT_MS = 1000;
/** nmap's min_rtt_timeout: a timeout never adapts below this (unless --timeout is lower). */
export const MIN_TIMEOUT_MS = 100;
/** nmap's floor for the first deviation: one fast sample must not make the timeout the bare round trip. */
const MIN_FIRST_RTTVAR_MS = 5;
/** nmap's caps: a deviation above 2.3 s is cut back to 2 s; a sample of 8 s or more far off is noise. */
const RTTVAR_LIMIT_MS = 2300;
const RTTVAR_CUT_MS = 2000;
const BOGUS_SAMPLE_MS = 8000;

export class TargetTimeouts {
  /** smoothed round trip per target, ms; -1 before its first sample */
  private readonly srtt: Float32Array;
  private readonly rttvar: Float32Array;
  private readonly floorMs: number;
  private readonly initialMs: number;

  /**
   * `maxMs`: the user's --timeout, the longest any probe waits. `fixed`: every probe waits exactly `maxMs`
   * (ping's -W: a reply is counted however late it comes within the wait the user chose).
   */
  constructor(
    size: number,
    private readonly maxMs: number,
    fixed = false,
  ) {
    this.srtt = new Float32Array(size).fill(-1);
    this.rttvar = new Float32Array(size);
    this.floorMs = fixed ? maxMs : Math.min(MIN_TIMEOUT_MS, maxMs);
    this.initialMs = fixed ? maxMs : Math.min(INITIAL_TIMEOUT_MS, maxMs);
  }

  /** A round trip measured to target `t` (only from a probe sent once: a retransmission's is ambiguous). */
  sample(t: number, rttMs: number): void {
    const srtt = this.srtt[t]!;
    if (srtt < 0) {
      this.srtt[t] = rttMs;
      this.rttvar[t] = Math.max(MIN_FIRST_RTTVAR_MS, Math.min(rttMs, RTTVAR_CUT_MS));
      return;
    }
    const rttvar = this.rttvar[t]!;
    if (rttMs >= BOGUS_SAMPLE_MS && rttMs > 3 * srtt + 2 * rttvar) return;
    const delta = rttMs - srtt;
    this.srtt[t] = srtt + delta / 8;
    const next = rttvar + (Math.abs(delta) - rttvar) / 4;
    this.rttvar[t] = next > RTTVAR_LIMIT_MS ? RTTVAR_CUT_MS : next;
  }

  /** The smoothed round trip of target `t`, null before its first sample. */
  srttOf(t: number): number | null {
    const srtt = this.srtt[t]!;
    return srtt < 0 ? null : srtt;
  }

  /** How long a probe to target `t` waits for its answer, ms. */
  timeoutOf(t: number): number {
    const srtt = this.srtt[t]!;
    if (srtt < 0) return this.initialMs;
    return Math.min(this.maxMs, Math.max(this.floorMs, srtt + 4 * this.rttvar[t]!));
  }
}
