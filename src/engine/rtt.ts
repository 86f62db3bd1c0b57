// How long to wait for each target's answers: a round-trip estimate per target, as TCP (RFC 6298) and nmap
// keep them (smoothed RTT and its variation; timeout = srtt + 4 * rttvar). A target that has not answered
// yet waits the initial timeout: a fast target's answers say nothing about a slow one, and a slow host
// declared filtered because its neighbour was fast is a wrong answer, not a faster one.

export interface TimeoutPolicy {
  /** the wait for a target with no round trip measured yet (nmap: 1000 ms) */
  initialMs: number;
  /** never less than this (nmap's --min-rtt-timeout, 100 ms) */
  minMs: number;
  /** never more than this (the user's --timeout) */
  maxMs: number;
}

export class RttTable {
  /** smoothed RTT per target, ms; NaN until the first sample */
  private readonly srtt: Float32Array;
  private readonly rttvar: Float32Array;
  private readonly initial: number;

  constructor(
    targets: number,
    private readonly policy: TimeoutPolicy,
  ) {
    this.srtt = new Float32Array(targets).fill(Number.NaN);
    this.rttvar = new Float32Array(targets);
    this.initial = clamp(policy.initialMs, policy.minMs, policy.maxMs);
  }

  /** A round trip of `rttMs` measured to `target`. */
  sample(target: number, rttMs: number): void {
    if (!(rttMs >= 0)) return;
    const s = this.srtt[target]!;
    if (Number.isNaN(s)) {
      this.srtt[target] = rttMs;
      this.rttvar[target] = rttMs / 2;
      return;
    }
    this.rttvar[target] = 0.75 * this.rttvar[target]! + 0.25 * Math.abs(s - rttMs);
    this.srtt[target] = 0.875 * s + 0.125 * rttMs;
  }

  /** How long after a probe to `target` went out its answer may still come, ms. */
  timeoutMs(target: number): number {
    const s = this.srtt[target]!;
    if (Number.isNaN(s)) return this.initial;
    return clamp(s + 4 * this.rttvar[target]!, this.policy.minMs, this.policy.maxMs);
  }

  /** The smoothed RTT of a target, null before its first answer. */
  srttMs(target: number): number | null {
    const s = this.srtt[target]!;
    return Number.isNaN(s) ? null : s;
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
