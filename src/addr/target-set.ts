import { UsageError } from "../errors";
import { explainIpv4, parseDottedQuad } from "./address";

// A set of IPv4 addresses kept as sorted, merged intervals, so a /16 or an nmap-style range costs a few
// numbers rather than an object per address. Addresses are unsigned 32-bit integers.

const MAX_INTERVALS = 1 << 20;

export class TargetSet {
  /** interval i covers starts[i]..ends[i] inclusive; before[i] = addresses in intervals 0..i-1 */
  private readonly starts: number[];
  private readonly ends: number[];
  private readonly before: number[];
  readonly size: number;

  private constructor(intervals: Array<[number, number]>) {
    intervals.sort((a, b) => a[0] - b[0]);
    this.starts = [];
    this.ends = [];
    this.before = [];
    let total = 0;
    for (const [s, e] of intervals) {
      const last = this.ends.length - 1;
      if (last >= 0 && s <= this.ends[last]! + 1) {
        if (e > this.ends[last]!) {
          total += e - this.ends[last]!;
          this.ends[last] = e;
        }
        continue;
      }
      this.starts.push(s);
      this.ends.push(e);
      this.before.push(total);
      total += e - s + 1;
    }
    this.size = total;
  }

  /** Parses target strings (address, CIDR, nmap-style octet ranges); throws UsageError naming the bad one. */
  static parse(specs: readonly string[]): TargetSet {
    const intervals: Array<[number, number]> = [];
    for (const spec of specs) parseTarget(spec, intervals);
    return new TargetSet(intervals);
  }

  static fromIntervals(intervals: Array<[number, number]>): TargetSet {
    return new TargetSet(intervals.map(([s, e]) => [s, e]));
  }

  /** The addresses of this set that are not in `other`. */
  exclude(other: TargetSet): TargetSet {
    const out: Array<[number, number]> = [];
    let j = 0;
    for (let i = 0; i < this.starts.length; i++) {
      let s = this.starts[i]!;
      const e = this.ends[i]!;
      while (j < other.starts.length && other.ends[j]! < s) j++;
      let k = j;
      while (s <= e && k < other.starts.length && other.starts[k]! <= e) {
        if (other.starts[k]! > s) out.push([s, other.starts[k]! - 1]);
        s = Math.max(s, other.ends[k]! + 1);
        k++;
      }
      if (s <= e) out.push([s, e]);
    }
    return new TargetSet(out);
  }

  /** The i-th address in ascending order. */
  at(i: number): number {
    if (i < 0 || i >= this.size) throw new RangeError(`target index ${i} out of range`);
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.before[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.starts[lo]! + (i - this.before[lo]!);
  }

  /** Position of an address in ascending order, or -1 when it is not in the set. */
  indexOf(address: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (address < this.starts[mid]!) hi = mid - 1;
      else if (address > this.ends[mid]!) lo = mid + 1;
      else return this.before[mid]! + (address - this.starts[mid]!);
    }
    return -1;
  }

  has(address: number): boolean {
    return this.indexOf(address) >= 0;
  }

  /** The intervals, ascending: useful to reason about whole prefixes at once. */
  intervals(): Array<[number, number]> {
    return this.starts.map((s, i) => [s, this.ends[i]!]);
  }

  *[Symbol.iterator](): IterableIterator<number> {
    for (let i = 0; i < this.starts.length; i++) {
      for (let a = this.starts[i]!; a <= this.ends[i]!; a++) yield a;
    }
  }
}

function bad(spec: string, why: string): UsageError {
  return new UsageError(`invalid target "${spec}": ${why}`);
}

function parseDecimal(text: string, max: number, spec: string, what: string): number {
  if (!/^[0-9]{1,3}$/.test(text) || (text.length > 1 && text[0] === "0")) {
    throw bad(spec, `"${text}" is not a valid ${what}`);
  }
  const n = Number(text);
  if (n > max) throw bad(spec, `${what} ${n} is larger than ${max}`);
  return n;
}

/** One octet field of an nmap-style range: "10", "1-20", "-20", "200-", "*", "1,3,5-7". Sorted runs. */
function parseOctetField(field: string, spec: string): Array<[number, number]> {
  if (field === "") throw bad(spec, "empty octet");
  const runs: Array<[number, number]> = [];
  for (const part of field.split(",")) {
    if (part === "*") {
      runs.push([0, 255]);
      continue;
    }
    const dash = part.indexOf("-");
    if (dash < 0) {
      const n = parseDecimal(part, 255, spec, "octet");
      runs.push([n, n]);
      continue;
    }
    const lo = dash === 0 ? 0 : parseDecimal(part.slice(0, dash), 255, spec, "octet");
    const hi = dash === part.length - 1 ? 255 : parseDecimal(part.slice(dash + 1), 255, spec, "octet");
    if (lo > hi) throw bad(spec, `range ${part} runs backwards`);
    runs.push([lo, hi]);
  }
  runs.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const r of runs) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

function parseTarget(raw: string, out: Array<[number, number]>): void {
  const spec = raw.trim();
  if (spec === "") throw new UsageError("invalid target: empty string");
  const slash = spec.indexOf("/");
  if (slash >= 0) {
    const address = parseIpv4Strict(spec.slice(0, slash), spec);
    const bits = parseDecimal(spec.slice(slash + 1), 32, spec, "prefix length");
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const start = (address & mask) >>> 0;
    out.push([start, start + 2 ** (32 - bits) - 1]);
    return;
  }
  const fields = spec.split(".");
  if (fields.length !== 4)
    throw bad(spec, "expected an IPv4 address, CIDR (a.b.c.d/n) or range (a.b.c.10-20)");
  const octets = fields.map((f) => parseOctetField(f, spec));
  let combos = 1;
  for (let i = 0; i < 3; i++) {
    combos *= octets[i]!.reduce((n, [lo, hi]) => n + hi - lo + 1, 0);
  }
  if (combos * octets[3]!.length > MAX_INTERVALS) throw bad(spec, "range is too fragmented");
  for (const a of expand(octets[0]!)) {
    for (const b of expand(octets[1]!)) {
      for (const c of expand(octets[2]!)) {
        const base = ((a << 24) | (b << 16) | (c << 8)) >>> 0;
        for (const [lo, hi] of octets[3]!) out.push([base + lo, base + hi]);
      }
    }
  }
}

function* expand(runs: Array<[number, number]>): IterableIterator<number> {
  for (const [lo, hi] of runs) for (let v = lo; v <= hi; v++) yield v;
}

/** Strict dotted quad (no leading zeros, which some tools read as octal): the one IPv4 parser. UsageError. */
export function parseIpv4Strict(text: string, spec = text): number {
  const value = parseDottedQuad(text);
  if (value < 0) throw new UsageError(`invalid target "${spec}": ${explainIpv4(text)}`);
  return value;
}

/** Normalises the target argument of the library functions. */
export function toTargetSet(targets: string | readonly string[] | TargetSet): TargetSet {
  if (targets instanceof TargetSet) return targets;
  return TargetSet.parse(typeof targets === "string" ? [targets] : targets);
}
