import { UsageError } from "../errors";
import { explainIpv4, parseDottedQuad } from "./address";
import {
  addToIpv6,
  bigIntToIpv6,
  checkBlockSize,
  compareIpv6,
  type Ipv6Block,
  ipv6ToBigInt,
  isIpv4Mapped,
  parseIpv6,
  parseIpv6Prefix,
  parseIpv6Range,
} from "./ipv6";

// A set of IPv4 and IPv6 addresses kept as sorted, merged intervals, so a /16 or an nmap-style range costs a few
// numbers rather than an object per address. IPv4 addresses are unsigned 32-bit integers and come first in
// index order (0 .. size4 - 1); IPv6 addresses follow (size4 .. size - 1), each interval kept as its first
// address's 16 bytes and a length, so ipv6Into() writes a target into a caller's buffer without allocating.

const MAX_INTERVALS = 1 << 20;

/** Default cap on one IPv6 prefix or range: 65,536 addresses, a /112. */
export const IPV6_CAP_DEFAULT = 65536;

/**
 * Options of {@link TargetSet.parse}.
 *
 * @example
 * ```ts
 * import { TargetSet } from "wireprobe";
 *
 * const wide = TargetSet.parse(["2001:db8::/104"], { ipv6Cap: 1 << 24 });
 * console.log(wide.size6); // 16777216
 * ```
 */
export interface TargetParseOptions {
  /**
   * The most addresses one IPv6 prefix or range may hold (default IPV6_CAP_DEFAULT); null: no cap (for
   * exclusions, where a /64 removes addresses rather than adding probes)
   */
  ipv6Cap?: number | null;
  /**
   * What the refusal of a block over the cap tells the user to do (default: raise it with --ipv6-cap N), for
   * callers whose cap is a fixed limit of their own
   */
  capHint?: string;
}

/** One IPv6 interval at parse time: BigInt ends, inclusive. */
type Interval6 = [bigint, bigint];

interface Parsed {
  v4: Array<[number, number]>;
  v6: Interval6[];
}

/**
 * A set of targets: IPv4 and IPv6 addresses, prefixes and nmap-style ranges, kept as sorted, merged intervals
 * (a /16 is two numbers, not 65,536 objects). Indices run over the IPv4 addresses first (`0 .. size4 - 1`),
 * then the IPv6 ones. Every probe takes one in place of its target strings.
 *
 * @example
 * ```ts
 * import { TargetSet, packet, scan } from "wireprobe";
 *
 * const targets = TargetSet.parse(["198.51.100.0/24", "198.51.100.10-20", "2001:db8::1"])
 *   .exclude(TargetSet.parse(["198.51.100.1"]));
 * console.log(targets.size4, targets.size6); // 255 1
 * console.log(packet.address.intToIpv4(targets.at(0))); // 198.51.100.0
 * for await (const r of scan(targets, { ports: [22], netns: "node1" })) console.log(r);
 * ```
 */
export class TargetSet {
  /** interval i covers starts[i]..ends[i] inclusive; before[i] = addresses in intervals 0..i-1 */
  private readonly starts: number[];
  private readonly ends: number[];
  private readonly before: number[];
  /** the IPv6 intervals, merged and ascending */
  private readonly ranges6: Interval6[];
  /** 16 bytes per IPv6 interval: its first address */
  private readonly starts6: Uint8Array;
  /** per IPv6 interval: addresses in it, and IPv6 addresses in the intervals before it */
  private readonly lengths6: number[];
  private readonly before6: number[];
  /** scratch for indexOfIpv6's subtraction */
  private readonly diff = new Uint8Array(16);
  /** IPv4 addresses (indices 0 .. size4 - 1) */
  readonly size4: number;
  /** IPv6 addresses (indices size4 .. size - 1); a Number, exact while below 2^53 */
  readonly size6: number;
  /** all addresses, IPv4 and IPv6 */
  readonly size: number;

  private constructor(intervals: Array<[number, number]>, intervals6: Interval6[] = []) {
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
    this.size4 = total;
    this.ranges6 = mergeIntervals6(intervals6);
    this.starts6 = new Uint8Array(this.ranges6.length * 16);
    this.lengths6 = [];
    this.before6 = [];
    let total6 = 0;
    for (const [k, [s, e]] of this.ranges6.entries()) {
      this.starts6.set(bigIntToIpv6(s), k * 16);
      const n = Number(e - s + 1n);
      this.lengths6.push(n);
      this.before6.push(total6);
      total6 += n;
    }
    this.size6 = total6;
    this.size = total + total6;
  }

  /**
   * Parses target strings (IPv4 address, CIDR, nmap-style octet ranges; IPv6 address, prefix, last-group
   * range "2001:db8::1-ff"); throws UsageError naming the bad one.
   *
   * @example
   * ```ts
   * import { TargetSet } from "wireprobe";
   *
   * const set = TargetSet.parse(["198.51.100.0/30", "203.0.113.1-3,9", "2001:db8::1-ff"]);
   * console.log(set.size); // 4 + 4 + 255
   * ```
   */
  static parse(specs: readonly string[], options: TargetParseOptions = {}): TargetSet {
    const out: Parsed = { v4: [], v6: [] };
    const cap = options.ipv6Cap === undefined ? IPV6_CAP_DEFAULT : options.ipv6Cap;
    // A library caller's cap: a bad one is a usage error, not a BigInt RangeError later.
    if (cap !== null && (!Number.isSafeInteger(cap) || cap < 1))
      throw new UsageError(`ipv6Cap must be a whole number of at least 1, not ${String(cap)}`);
    for (const spec of specs) parseTarget(spec, out, cap, options.capHint ?? CAP_HINT);
    return new TargetSet(out.v4, out.v6);
  }

  /**
   * A set of these IPv4 intervals (first and last address as unsigned 32-bit numbers, inclusive; they may
   * overlap).
   *
   * @example
   * ```ts
   * import { TargetSet, packet } from "wireprobe";
   *
   * const { ipv4ToInt } = packet.address;
   * const set = TargetSet.fromIntervals([[ipv4ToInt("198.51.100.0"), ipv4ToInt("198.51.100.127")]]);
   * console.log(set.size); // 128
   * ```
   */
  static fromIntervals(intervals: Array<[number, number]>): TargetSet {
    return new TargetSet(intervals.map(([s, e]) => [s, e]));
  }

  /** A set of these IPv4 intervals and IPv6 addresses (16 bytes each). */
  static fromParts(intervals: Array<[number, number]>, ipv6: readonly Uint8Array[]): TargetSet {
    return new TargetSet(
      intervals.map(([s, e]) => [s, e]),
      ipv6.map((b) => {
        const v = ipv6ToBigInt(b);
        return [v, v];
      }),
    );
  }

  /** The addresses of either set. */
  union(other: TargetSet): TargetSet {
    return new TargetSet([...this.intervals(), ...other.intervals()], [...this.ranges6, ...other.ranges6]);
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
    const out6: Interval6[] = [];
    for (const [s0, e] of this.ranges6) {
      let s = s0;
      for (const [os, oe] of other.ranges6) {
        if (oe < s || os > e) continue;
        if (os > s) out6.push([s, os - 1n]);
        s = oe + 1n;
        if (s > e) break;
      }
      if (s <= e) out6.push([s, e]);
    }
    return new TargetSet(out, out6);
  }

  /** The family of the i-th target: IPv4 first, then IPv6. */
  familyAt(i: number): 4 | 6 {
    return i < this.size4 ? 4 : 6;
  }

  /** The i-th IPv4 address in ascending order (i < size4). */
  at(i: number): number {
    if (i < 0 || i >= this.size4) throw new RangeError(`target index ${i} is not an IPv4 target`);
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.before[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.starts[lo]! + (i - this.before[lo]!);
  }

  /** Writes the 16 bytes of the i-th target (an IPv6 one: size4 <= i < size) into `out` at `offset`. */
  ipv6Into(i: number, out: Uint8Array, offset = 0): void {
    const j = i - this.size4;
    if (j < 0 || j >= this.size6 || !Number.isInteger(i)) {
      throw new RangeError(`target index ${i} is not an IPv6 target`);
    }
    let lo = 0;
    let hi = this.before6.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.before6[mid]! <= j) lo = mid;
      else hi = mid - 1;
    }
    out.set(this.starts6.subarray(lo * 16, lo * 16 + 16), offset);
    addToIpv6(out, j - this.before6[lo]!, offset);
  }

  /** Position of an IPv4 address in ascending order, or -1 when it is not in the set. */
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

  /** Index of the IPv6 address at `buf[offset, offset + 16)`, or -1 when it is not in the set. No allocation. */
  indexOfIpv6(buf: Uint8Array, offset = 0): number {
    let lo = 0;
    let hi = this.lengths6.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compareIpv6(buf, this.starts6, offset, mid * 16) < 0) {
        hi = mid - 1;
        continue;
      }
      const d = this.distance(buf, offset, mid);
      if (d >= this.lengths6[mid]!) lo = mid + 1;
      else return this.size4 + this.before6[mid]! + d;
    }
    return -1;
  }

  /** address - start of IPv6 interval k (address >= start), or Infinity when it does not fit 48 bits. */
  private distance(buf: Uint8Array, offset: number, k: number): number {
    const d = this.diff;
    let borrow = 0;
    for (let b = 15; b >= 0; b--) {
      let v = buf[offset + b]! - this.starts6[k * 16 + b]! - borrow;
      borrow = v < 0 ? 1 : 0;
      if (v < 0) v += 256;
      d[b] = v;
    }
    for (let b = 0; b < 10; b++) if (d[b] !== 0) return Number.POSITIVE_INFINITY;
    let n = 0;
    for (let b = 10; b < 16; b++) n = n * 256 + d[b]!;
    return n;
  }

  /** Whether an IPv4 address (an unsigned 32-bit number) is in the set. */
  has(address: number): boolean {
    return this.indexOf(address) >= 0;
  }

  /** Whether the IPv6 address at `buf[offset, offset + 16)` is in the set. */
  hasIpv6(buf: Uint8Array, offset = 0): boolean {
    return this.indexOfIpv6(buf, offset) >= 0;
  }

  /** The IPv4 intervals, ascending: useful to reason about whole prefixes at once. */
  intervals(): Array<[number, number]> {
    return this.starts.map((s, i) => [s, this.ends[i]!]);
  }

  /** The IPv6 intervals (first and last address, inclusive), ascending. */
  intervals6(): Array<[bigint, bigint]> {
    return this.ranges6.map(([s, e]) => [s, e]);
  }

  /** The IPv4 addresses, ascending (IPv6 targets: ipv6Into). */
  *[Symbol.iterator](): IterableIterator<number> {
    for (let i = 0; i < this.starts.length; i++) {
      for (let a = this.starts[i]!; a <= this.ends[i]!; a++) yield a;
    }
  }
}

function mergeIntervals6(intervals: Interval6[]): Interval6[] {
  const sorted = intervals
    .map(([s, e]): Interval6 => [s, e])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Interval6[] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1] + 1n) {
      if (e > last[1]) last[1] = e;
    } else {
      out.push([s, e]);
    }
  }
  return out;
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

function parseTarget(raw: string, parsed: Parsed, cap: number | null, hint: string): void {
  const spec = raw.trim();
  if (spec === "") throw new UsageError("invalid target: empty string");
  if (spec.includes(":")) {
    parsed.v6.push(parseIpv6Target(spec, cap, hint));
    return;
  }
  const out = parsed.v4;
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
    throw bad(
      spec,
      "expected an IPv4 or IPv6 address, a prefix (a.b.c.d/n, 2001:db8::/120) or a range (a.b.c.10-20)",
    );
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

/** The option that raises the IPv6 cap, named in the refusal (the library's callers see it too). */
const CAP_HINT = "raise the cap with --ipv6-cap N (ipv6Cap in the API)";

/** An IPv6 address, prefix or last-group range as an interval; UsageError with a one-line reason. */
function parseIpv6Target(spec: string, cap: number | null, hint: string): Interval6 {
  let block: Ipv6Block;
  try {
    if (spec.includes("/")) block = parseIpv6Prefix(spec);
    else if (spec.includes("-")) block = parseIpv6Range(spec);
    else {
      const p = parseIpv6(spec);
      block = { first: p.bytes, last: p.bytes, size: 1n, prefixLength: null, zone: p.zone };
    }
  } catch (err) {
    // The parser's message names the spec already.
    throw new UsageError((err as Error).message);
  }
  if (block.zone !== null) {
    throw new UsageError(
      `invalid target "${spec}": a zone index (%${block.zone}) is not supported; choose the interface with --interface`,
    );
  }
  if (isIpv4Mapped(block.first) || isIpv4Mapped(block.last)) {
    const v4 = `${block.first[12]}.${block.first[13]}.${block.first[14]}.${block.first[15]}`;
    throw new UsageError(
      `invalid target "${spec}": an IPv4-mapped IPv6 address is not probed over IPv6; give the IPv4 address (${v4}) instead`,
    );
  }
  if (cap !== null) {
    try {
      checkBlockSize(spec, block, cap);
    } catch (err) {
      throw new UsageError(`${(err as Error).message}; ${hint}`);
    }
  }
  return [ipv6ToBigInt(block.first), ipv6ToBigInt(block.last)];
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
export function toTargetSet(
  targets: string | readonly string[] | TargetSet,
  options: TargetParseOptions = {},
): TargetSet {
  if (targets instanceof TargetSet) return targets;
  return TargetSet.parse(typeof targets === "string" ? [targets] : targets, options);
}
