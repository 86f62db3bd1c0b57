// When each round starts. Rounds sit on a grid of slots `intervalMs` apart; each round starts a random
// jitter in [0, intervalMs × jitter) after its slot, so that agents started together (a DaemonSet rollout)
// do not probe in lockstep. A round never starts before the previous one has ended: when the previous one
// overran the next round's planned start, the next round starts at once and is "late", and the grid is
// re-anchored there, so a slow round delays what follows instead of leaving a backlog of rounds to catch up.
// Pure arithmetic over times given to it (the clock and the random source are injected): unit-testable.

/** The default share of the interval the start of a round may be delayed by: 0.2. */
export const DEFAULT_JITTER = 0.2;

/** One planned round. */
export interface RoundPlan {
  /** the round's number, from 1 */
  round: number;
  /** its slot on the grid (ms, the clock's time) */
  slot: number;
  /** when it starts: slot + jitter, or when the previous round ended if that was later */
  startAt: number;
  /** true when the previous round ended after this one's planned start */
  late: boolean;
}

/** The options of a {@link Schedule}. */
export interface ScheduleOptions {
  /** ms between slots */
  intervalMs: number;
  /** the jitter's share of the interval, 0 to 1 (default 0.2) */
  jitter?: number;
  /** a random number in [0, 1) (default Math.random) */
  random?: () => number;
}

/** The rounds' start times, one plan at a time: `next(now)` when the previous round has ended. */
export class Schedule {
  readonly #interval: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #last: RoundPlan | null = null;

  constructor(options: ScheduleOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError("intervalMs must be positive");
    const jitter = options.jitter ?? DEFAULT_JITTER;
    if (!(jitter >= 0 && jitter <= 1)) throw new RangeError("jitter must be within [0, 1]");
    this.#interval = options.intervalMs;
    this.#jitter = jitter;
    this.#random = options.random ?? Math.random;
  }

  /** A jitter in [0, interval × jitter). */
  #delay(): number {
    const r = Math.min(Math.max(this.#random(), 0), 1 - Number.EPSILON);
    return Math.floor(r * this.#interval * this.#jitter);
  }

  /**
   * The plan of the next round, given the time now (the first call: the agent's start; later calls: when the
   * previous round ended).
   */
  next(now: number): RoundPlan {
    const prev = this.#last;
    let plan: RoundPlan;
    if (prev === null) {
      plan = { round: 1, slot: now, startAt: now + this.#delay(), late: false };
    } else {
      const slot = prev.slot + this.#interval;
      const startAt = slot + this.#delay();
      plan =
        now > startAt
          ? { round: prev.round + 1, slot: now, startAt: now, late: true }
          : { round: prev.round + 1, slot, startAt, late: false };
    }
    this.#last = plan;
    return plan;
  }
}
