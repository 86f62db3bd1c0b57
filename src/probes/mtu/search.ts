// The path MTU search for one target, as a pure function of the probes made so far: which size to send next,
// or that the search is over, and what it found. No I/O and no clock: the module records what became of each
// probe (a reply, a too-big error, silence after its timeout, another error) and asks again, so the same
// history always gives the same answer, whatever order the answers came in (a late reply overrides the
// silence or the error recorded before it: a packet that came back got through).
//
// The search: the smallest size first (is the target there at all?), then the largest (the interface's MTU:
// a clean path is done in two round trips), then inside the interval (largest size answered, smallest size
// that failed): a size a router announced in its error, then the MTUs that links and overlays commonly have
// (a black hole at 1450 is found in a handful of probes, not eleven), then halves. A size just above an
// announced or common MTU that got through is tried next, so a match is confirmed at once. A size that only
// met silence is tried `attempts` times before it counts as dropped: one lost probe must not make a black hole.

/** What became of one probe. */
export const UNSENT = 0;
/** sent, no answer yet */
export const PENDING = 1;
/** an echo reply came back: the size gets through */
export const REPLY = 2;
/** a router's fragmentation-needed / packet-too-big error quoted it */
export const TOO_BIG = 3;
/** no answer within its timeout */
export const SILENT = 4;
/** another ICMP error quoted it (host or net unreachable, prohibited, TTL exceeded), or the kernel refused it */
export const ERROR = 5;
/** the kernel refused it as larger than the interface's MTU (EMSGSIZE): too big before the wire */
export const LOCAL_TOO_BIG = 6;

/**
 * The MTUs links and tunnels commonly have, largest first: jumbo frames, Ethernet, PPPoE (1492), IPIP (1480), GRE
 * (1476), VXLAN and Geneve (1450), WireGuard (1440 over IPv4 only, 1420), IPsec and VPN clamps (1400, 1380,
 * 1350, 1300), IPv6's minimum (1280), SLIP (1006), the IPv4 datagram every host takes (576), X.25 (296).
 */
export const COMMON_MTUS: readonly number[] = [
  9216, 9000, 8950, 4352, 2002, 1500, 1492, 1480, 1476, 1460, 1450, 1440, 1420, 1400, 1380, 1350, 1300, 1280,
  1006, 576, 508, 296,
];

/** The probes one target has had, in order (k = 0 .. count - 1). */
export interface ProbeHistory {
  readonly count: number;
  size(k: number): number;
  outcome(k: number): number;
  /** TOO_BIG: the MTU the error announced (0: none, an RFC 792 router) */
  announced(k: number): number;
}

export interface SearchLimits {
  /** the first size tried: the floor of the search */
  min: number;
  /** the largest size tried: the interface's MTU, or the user's maximum */
  max: number;
  /** probes a size may get when it only meets silence (1 + retries) */
  attempts: number;
  /** the smallest MTU a router may announce: 68 for IPv4 (RFC 791), 1280 for IPv6 (RFC 8200) */
  floor: number;
}

/** How the smallest size that did not get through failed. */
export type Boundary = "too-big" | "silent" | "error";

export interface SearchResult {
  /** the next size to send, or 0 when the search is over */
  next: number;
  /** the search is over: it found its answer (or that the target does not answer at all) */
  over: boolean;
  /** the largest size that got through, 0 when none did */
  pathMtu: number;
  /** some size got through: the target answers */
  reachable: boolean;
  /** how pathMtu + 1 failed; null while it has not, or when the largest size got through */
  boundary: Boundary | null;
  /**
   * complete, below max, and no too-big error explains the failure of pathMtu + 1: packets of that size vanish
   * and nothing tells the sender to send smaller ones
   */
  blackHole: boolean;
  /** the smallest MTU a believed error announced, 0 when none announced one */
  reportedMtu: number;
  /** the probe (k) whose error announced reportedMtu, or (none announced one) the first believed too-big error's; -1 when none */
  reportedAt: number;
  /** too-big errors believed: they quote a probe that did not get through, with an MTU that fits what got through */
  believedErrors: number;
  /** too-big errors not believed: a reply proved their probe got through, or their MTU is below a size that did */
  contradictedErrors: number;
}

/** Whether a router's announced MTU can be true for a probe of `size`: at least the family's minimum, below the size. */
export function plausibleMtu(announced: number, size: number, floor: number): boolean {
  return announced >= floor && announced < size;
}

/** Where the search stands for one target, and what to send next. */
export function searchMtu(h: ProbeHistory, limits: SearchLimits): SearchResult {
  const { min, max, attempts, floor } = limits;
  const replied = new Set<number>();
  const silences = new Map<number, number>();
  const probed = new Set<number>();
  let lo = 0;
  for (let k = 0; k < h.count; k++) {
    const o = h.outcome(k);
    if (o === UNSENT) continue;
    const s = h.size(k);
    probed.add(s);
    if (o === REPLY) {
      replied.add(s);
      if (s > lo) lo = s;
    } else if (o === SILENT) silences.set(s, (silences.get(s) ?? 0) + 1);
  }
  // A failure needs no reply for its size, and a size below one that got through cannot have failed for its
  // size (a forged error, or a loss): only failures above lo count.
  let hi = Number.POSITIVE_INFINITY;
  let upper = Number.POSITIVE_INFINITY;
  let believed = 0;
  let contradicted = 0;
  let reportedMtu = 0;
  let reportedAt = -1;
  let firstBelieved = -1;
  let explained = Number.POSITIVE_INFINITY;
  const hints: number[] = [];
  const failedBy = new Map<number, Boundary>();
  for (let k = 0; k < h.count; k++) {
    const o = h.outcome(k);
    if (o === UNSENT || o === PENDING) continue;
    const s = h.size(k);
    if (o === TOO_BIG) {
      const m = h.announced(k);
      // An error whose size got through anyway, or whose announced MTU is smaller than a size that got
      // through, is not the path speaking.
      if (replied.has(s) || s <= lo || (m !== 0 && m < lo)) {
        contradicted++;
        continue;
      }
      believed++;
      if (firstBelieved < 0) firstBelieved = k;
      if (m !== 0 && plausibleMtu(m, s, floor)) {
        if (reportedMtu === 0 || m < reportedMtu) {
          reportedMtu = m;
          reportedAt = k;
        }
        if (m > lo) hints.push(m);
        explained = Math.min(explained, m);
      } else explained = Math.min(explained, s - 1);
    }
    if (replied.has(s) || s <= lo) continue;
    let failed: Boundary | null = null;
    if (o === TOO_BIG || o === LOCAL_TOO_BIG) failed = "too-big";
    else if (o === ERROR) failed = "error";
    else if (o === SILENT && (silences.get(s) ?? 0) >= attempts) failed = "silent";
    if (o === LOCAL_TOO_BIG) explained = Math.min(explained, s - 1);
    if (failed !== null) {
      if (s < hi) hi = s;
      // The strongest word on a size: an error that explains it beats silence on another attempt.
      const had = failedBy.get(s);
      if (had === undefined || had === "silent") failedBy.set(s, failed);
    }
    if (o === SILENT && s < upper) upper = s;
  }
  if (hi < upper) upper = hi;
  if (reportedAt < 0) reportedAt = firstBelieved;

  const result = (next: number): SearchResult => {
    const over = next === 0;
    const top = lo >= max;
    const boundary = over && !top && lo > 0 ? (failedBy.get(lo + 1) ?? null) : null;
    return {
      next,
      over,
      pathMtu: lo,
      reachable: lo > 0,
      boundary,
      blackHole: over && lo > 0 && !top && lo < explained,
      reportedMtu,
      reportedAt,
      believedErrors: believed,
      contradictedErrors: contradicted,
    };
  };
  const probe = (size: number) => result(size);
  const done = () => result(0);

  // Is the target there at all? The floor size, with retries on silence.
  if (lo === 0) {
    const floorSilences = silences.get(min) ?? 0;
    const floorFailed = failedBy.has(min) || floorSilences >= attempts;
    if (floorFailed) return done();
    return probe(min);
  }
  if (lo >= max) return done();
  if (!probed.has(max)) return probe(max);
  if (upper <= lo + 1) {
    if (hi === lo + 1) return done();
    return probe(lo + 1);
  }
  // lo got through and a router announced exactly it: one more byte says whether it is the path's MTU.
  if (!probed.has(lo + 1) && hasAnnounced(h, lo)) return probe(lo + 1);
  // A size a router announced, largest first (the nearer hop's error may name the larger MTU).
  const announced = hints.filter((m) => m > lo && m < upper && !probed.has(m)).sort((a, b) => b - a);
  if (announced.length > 0) return probe(announced[0]!);
  // The common MTUs inside the interval, halved; once none is left and lo is one, one more byte says.
  const common = COMMON_MTUS.filter((m) => m > lo && m < upper && !probed.has(m));
  if (common.length > 0) return probe(common[Math.floor(common.length / 2)]!);
  if (!probed.has(lo + 1) && COMMON_MTUS.includes(lo)) return probe(lo + 1);
  return probe(Math.floor((lo + upper) / 2));
}

/** Whether some too-big error announced exactly `size` (a reply then confirmed it gets through). */
function hasAnnounced(h: ProbeHistory, size: number): boolean {
  for (let k = 0; k < h.count; k++) if (h.outcome(k) === TOO_BIG && h.announced(k) === size) return true;
  return false;
}
