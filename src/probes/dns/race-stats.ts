// Whether the same-socket pairs of a DNS race run lose more than the separate-socket ones by more than chance:
// a one-sided Fisher exact test on the 2x2 table (kind x lost or not). Exact rather than a normal approximation
// because the counts that matter are small (a handful of lost pairs out of tens or hundreds).

/** log(k!) for k = 0..n, grown on demand */
const logFactorials: number[] = [0];

function logFactorial(n: number): number {
  for (let k = logFactorials.length; k <= n; k++) logFactorials.push(logFactorials[k - 1]! + Math.log(k));
  return logFactorials[n]!;
}

function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/**
 * P(X >= lostA) where X is the number of lost pairs that fall among the first kind's `sentA` pairs when
 * `lostA + lostB` lost pairs fall at random among `sentA + sentB` (hypergeometric): small when the first kind
 * loses more than chance explains. 1 when nothing was lost.
 */
export function fisherOneSided(lostA: number, sentA: number, lostB: number, sentB: number): number {
  const total = sentA + sentB;
  const lost = lostA + lostB;
  if (lost === 0 || sentA === 0 || sentB === 0) return 1;
  const denominator = logChoose(total, sentA);
  let p = 0;
  for (let x = lostA; x <= Math.min(lost, sentA); x++) {
    if (sentA - x > total - lost) continue;
    p += Math.exp(logChoose(lost, x) + logChoose(total - lost, sentA - x) - denominator);
  }
  return Math.min(1, p);
}

/** 3 significant digits, as the record carries it. */
export function roundP(p: number): number {
  return p === 0 ? 0 : Number(p.toPrecision(3));
}

/** The significance level below which the same-socket excess is called the race. */
export const RACE_ALPHA = 0.01;
