// IPv6 address helpers (RFC 4291 text forms in, RFC 5952 text out). An address is 16 bytes in a Uint8Array:
// that is what the packet writers copy into a frame, and a sweep steps through a prefix by adding to the low
// bytes in place (addToIpv6), so the hot path neither allocates nor goes through BigInt. BigInt is used only
// for prefix arithmetic at parse time (sizes, range ends).

import { explainIpv4, parseDottedQuad } from "./address";

/** bytes of an IPv6 address */
export const IPV6_LENGTH = 16;

/**
 * An IPv6 address parsed from text: its bytes and what the text said beside them.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const parsed: packet.ipv6Address.ParsedIpv6 = packet.ipv6Address.parseIpv6("fe80::1%eth0");
 * console.log(parsed.zone, packet.ipv6Address.isLinkLocal(parsed.bytes)); // eth0 true
 * ```
 */
export interface ParsedIpv6 {
  /** the 16 address bytes (a new array per parse) */
  bytes: Uint8Array;
  /** the zone index after "%" ("eth0", "2"), null when absent: the caller decides whether it may be used */
  zone: string | null;
  /** ::ffff:0:0/96, an IPv4 address in IPv6 clothing: callers that send IPv6 packets should refuse it */
  ipv4Mapped: boolean;
  /** the text ended in a dotted quad ("::ffff:198.51.100.1", "64:ff9b::192.0.2.1") */
  dottedTail: boolean;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/** Where the zone index starts ("%"), or the end of the text. */
function zoneStart(s: string): number {
  const p = s.indexOf("%");
  return p < 0 ? s.length : p;
}

/**
 * Parses the address part s[0, end) into out[offset, offset + 16). Returns 0 on success, 1 when it ended in
 * a dotted quad, -1 when it is not an address. Allocates nothing and throws nothing: the hot path.
 */
function parseInto(s: string, end: number, out: Uint8Array, offset: number): number {
  if (end < 2 || end > 45) return -1;
  // Groups go into `out` as they come; after "::" the remaining groups are shifted right at the end.
  let group = 0;
  let gap = -1;
  let i = 0;
  let dotted = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return -1;
    gap = 0;
    i = 2;
    if (i === end) {
      out.fill(0, offset, offset + 16);
      return 0;
    }
  }
  while (i < end) {
    if (group >= 8) return -1;
    // One group: 1..4 hex digits, or a dotted quad as the last 32 bits.
    let value = 0;
    let digits = 0;
    const startOfGroup = i;
    while (i < end && digits <= 4) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 46) {
      // Dotted quad tail: needs room for two groups and must end the text.
      if (group > 6) return -1;
      const v4 = parseDottedQuad(s.slice(startOfGroup, end));
      if (v4 < 0) return -1;
      const o = offset + group * 2;
      out[o] = v4 >>> 24;
      out[o + 1] = (v4 >>> 16) & 255;
      out[o + 2] = (v4 >>> 8) & 255;
      out[o + 3] = v4 & 255;
      group += 2;
      i = end;
      dotted = 1;
      break;
    }
    if (digits === 0 || digits > 4) return -1;
    out[offset + group * 2] = value >>> 8;
    out[offset + group * 2 + 1] = value & 255;
    group++;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return -1;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return -1;
      gap = group;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return -1; // a single trailing colon
    }
  }
  if (gap < 0) {
    if (group !== 8) return -1;
    return dotted;
  }
  // "::" stands for at least one zero group (RFC 4291 2.2; RFC 5952 only says not to write it for one).
  if (group > 7) return -1;
  const tail = group - gap;
  const from = offset + gap * 2;
  const to = offset + 16 - tail * 2;
  out.copyWithin(to, from, from + tail * 2);
  out.fill(0, from, to);
  return dotted;
}

function zoneValid(zone: string): boolean {
  if (zone.length === 0 || zone.length > 64) return false;
  for (let i = 0; i < zone.length; i++) {
    const c = zone.charCodeAt(i);
    // Interface names and numbers: printable ASCII without space, "%" or "/" (the prefix separator).
    if (c <= 32 || c >= 127 || c === 37 || c === 47) return false;
  }
  return true;
}

/**
 * Parses the address (without zone) into buf at offset; returns false when it is not one. No allocation,
 * no throw: for callers that turn many strings into packet bytes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const targets = ["2001:db8::10", "2001:db8::11"];
 * const packed = new Uint8Array(16 * targets.length);
 * targets.forEach((t, i) => {
 *   if (!packet.ipv6Address.parseIpv6Into(t, packed, 16 * i)) throw new Error(`not an IPv6 address: ${t}`);
 * });
 * ```
 */
export function parseIpv6Into(s: string, buf: Uint8Array, offset = 0): boolean {
  if (typeof s !== "string" || offset < 0 || offset + 16 > buf.length) return false;
  return parseInto(s, s.length, buf, offset) >= 0;
}

/**
 * The parse result, or null when `s` is not an IPv6 address (with an optional valid zone index).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const p = packet.ipv6Address.tryParseIpv6("2001:db8::1");
 * if (p === null) console.error("not an IPv6 address");
 * ```
 */
export function tryParseIpv6(s: string): ParsedIpv6 | null {
  if (typeof s !== "string") return null;
  const z = zoneStart(s);
  const bytes = new Uint8Array(16);
  const r = parseInto(s, z, bytes, 0);
  if (r < 0) return null;
  let zone: string | null = null;
  if (z < s.length) {
    zone = s.slice(z + 1);
    if (!zoneValid(zone)) return null;
  }
  return { bytes, zone, ipv4Mapped: isIpv4Mapped(bytes), dottedTail: r === 1 };
}

/**
 * The one-line reason `s` is not an IPv6 address; only runs on the failure path.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const input = "2001:db8:::1";
 * if (!packet.ipv6Address.isValidIpv6(input)) console.error(packet.ipv6Address.explainIpv6(input));
 * ```
 */
export function explainIpv6(s: string): string {
  const head = `invalid IPv6 address "${s}"`;
  if (typeof s !== "string") return `invalid IPv6 address: expected a string, got ${typeof s}`;
  const z = zoneStart(s);
  const addr = s.slice(0, z);
  if (z < s.length && !zoneValid(s.slice(z + 1))) {
    return `${head}: zone index after "%" must be a non-empty interface name or number`;
  }
  if (addr === "") return `${head}: empty`;
  if (addr.includes("/")) return `${head}: a prefix length is not allowed here`;
  for (let i = 0; i < addr.length; i++) {
    const c = addr.charCodeAt(i);
    if (c !== 58 && c !== 46 && hexValue(c) < 0) {
      return `${head}: "${addr[i]}" is not a hex digit, ":" or "."`;
    }
  }
  const doubles = addr.split("::").length - 1;
  if (doubles > 1 || addr.includes(":::")) return `${head}: "::" may appear only once`;
  if (addr.startsWith(":") && !addr.startsWith("::")) return `${head}: starts with a single ":"`;
  if (addr.endsWith(":") && !addr.endsWith("::")) return `${head}: ends with a single ":"`;
  const groups = addr.split(":").filter((g) => g !== "");
  const last = groups[groups.length - 1] ?? "";
  const dotted = last.includes(".");
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i] as string;
    if (g.includes(".")) {
      if (i !== groups.length - 1) return `${head}: a dotted IPv4 part may only end the address`;
      if (parseDottedQuad(g) < 0) return `${head}: embedded ${explainIpv4(g)}`;
    } else if (g.length > 4) {
      return `${head}: group "${g}" has more than 4 hex digits`;
    }
  }
  const count = groups.length + (dotted ? 1 : 0);
  if (doubles === 0 && count !== 8) return `${head}: expected 8 groups, got ${count}`;
  if (doubles === 1 && count > 7) return `${head}: "::" with ${count} groups stands for no group`;
  return head;
}

/**
 * Parses IPv6 text in any RFC 4291 form ("::", "2001:db8::1", "::ffff:198.51.100.1", "fe80::1%eth0"),
 * case-insensitive. Throws TypeError with a one-line reason otherwise. The zone index and the IPv4-mapped
 * flag are returned, not judged: the caller knows whether it can use them.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const { bytes, ipv4Mapped } = packet.ipv6Address.parseIpv6("::ffff:198.51.100.1");
 * console.log(ipv4Mapped, packet.ipv6Address.formatIpv6(bytes)); // true ::ffff:198.51.100.1
 * ```
 */
export function parseIpv6(s: string): ParsedIpv6 {
  const r = tryParseIpv6(s);
  if (!r) throw new TypeError(explainIpv6(s));
  return r;
}

/**
 * The 16 bytes of an address given as text (zone not allowed) or as bytes (length checked, not copied).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const dst = packet.ipv6Address.toIpv6Bytes("2001:db8::11"); // Uint8Array(16) [0x20, 0x01, 0x0d, 0xb8, ...]
 * ```
 */
export function toIpv6Bytes(addr: string | Uint8Array): Uint8Array {
  if (addr instanceof Uint8Array) {
    if (addr.length !== 16)
      throw new TypeError(`invalid IPv6 address: expected 16 bytes, got ${addr.length}`);
    return addr;
  }
  const p = parseIpv6(addr);
  if (p.zone !== null)
    throw new TypeError(`invalid IPv6 address "${addr}": a zone index is not allowed here`);
  return p.bytes;
}

/**
 * True when parseIpv6 would accept the value.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.ipv6Address.isValidIpv6("2001:db8::1"); // true
 * packet.ipv6Address.isValidIpv6("2001:db8::g"); // false
 * ```
 */
export function isValidIpv6(s: unknown): boolean {
  return typeof s === "string" && tryParseIpv6(s) !== null;
}

/**
 * RFC 5952 text of the 16 bytes at `offset`: lowercase, no leading zeros, the longest run of two or more
 * zero groups as "::" (the leftmost on a tie), a lone zero group written as "0". IPv4-mapped addresses end
 * in a dotted quad (RFC 5952 section 5). Throws RangeError if the bytes are not all there.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const bytes = packet.ipv6Address.toIpv6Bytes("2001:0DB8:0000:0000:0000:0000:0000:0001");
 * packet.ipv6Address.formatIpv6(bytes); // "2001:db8::1"
 * ```
 */
export function formatIpv6(buf: Uint8Array, offset = 0): string {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + 16 > buf.length) {
    throw new RangeError(`formatIpv6: no 16 bytes at offset ${offset} in a ${buf.length}-byte buffer`);
  }
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let g = 0; g <= 8; g++) {
    const zero = g < 8 && buf[offset + g * 2] === 0 && buf[offset + g * 2 + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = g;
    } else if (runStart >= 0) {
      if (g - runStart > bestLen) {
        bestStart = runStart;
        bestLen = g - runStart;
      }
      runStart = -1;
    }
  }
  const mapped = isIpv4Mapped(buf, offset);
  const groups = mapped ? 6 : 8;
  let out = "";
  for (let g = 0; g < groups; g++) {
    if (g === bestStart) {
      out += "::";
      g += bestLen - 1;
      continue;
    }
    if (out !== "" && !out.endsWith(":")) out += ":";
    out += ((buf[offset + g * 2] << 8) | buf[offset + g * 2 + 1]).toString(16);
  }
  if (mapped) {
    if (!out.endsWith(":")) out += ":";
    out += `${buf[offset + 12]}.${buf[offset + 13]}.${buf[offset + 14]}.${buf[offset + 15]}`;
  }
  return out;
}

/**
 * ::ffff:0:0/96 (RFC 4291 2.5.5.2).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.ipv6Address.isIpv4Mapped(packet.ipv6Address.toIpv6Bytes("::ffff:198.51.100.1")); // true
 * ```
 */
export function isIpv4Mapped(buf: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < 10; i++) if (buf[offset + i] !== 0) return false;
  return buf[offset + 10] === 0xff && buf[offset + 11] === 0xff;
}

/**
 * fe80::/10, the link-local unicast prefix: such an address means something only with an interface.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.ipv6Address.isLinkLocal(packet.ipv6Address.toIpv6Bytes("fe80::1")); // true
 * ```
 */
export function isLinkLocal(buf: Uint8Array, offset = 0): boolean {
  return buf[offset] === 0xfe && (buf[offset + 1] & 0xc0) === 0x80;
}

/**
 * ff00::/8.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.ipv6Address.isMulticast(packet.ipv6Address.toIpv6Bytes("ff02::1")); // true
 * ```
 */
export function isMulticast(buf: Uint8Array, offset = 0): boolean {
  return buf[offset] === 0xff;
}

/**
 * ::, the unspecified address (the source of a DAD probe).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const ip: packet.ipv6.Ipv6Header;
 * const dadProbe = packet.ipv6Address.isUnspecified(ip.srcBytes);
 * ```
 */
export function isUnspecified(buf: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < 16; i++) if (buf[offset + i] !== 0) return false;
  return true;
}

/**
 * The solicited-node multicast address of `target` (RFC 4291 2.7.1): ff02::1:ff00:0/104 plus the target's
 * low 24 bits, where a neighbour solicitation is sent. Written into `out` at `outOffset` when given.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const group = packet.ipv6Address.solicitedNodeAddress(packet.ipv6Address.toIpv6Bytes("2001:db8::abcd:1234"));
 * packet.ipv6Address.formatIpv6(group); // "ff02::1:ffcd:1234"
 * ```
 */
export function solicitedNodeAddress(
  target: Uint8Array,
  targetOffset = 0,
  out: Uint8Array = new Uint8Array(16),
  outOffset = 0,
): Uint8Array {
  out.fill(0, outOffset, outOffset + 16);
  out[outOffset] = 0xff;
  out[outOffset + 1] = 0x02;
  out[outOffset + 11] = 0x01;
  out[outOffset + 12] = 0xff;
  out[outOffset + 13] = target[targetOffset + 13];
  out[outOffset + 14] = target[targetOffset + 14];
  out[outOffset + 15] = target[targetOffset + 15];
  return out;
}

/**
 * The Ethernet address of an IPv6 multicast group (RFC 2464 section 7): 33:33 and the group's low 32 bits;
 * for a solicited-node address that is 33:33:ff:XX:XX:XX. Written into `out` at `outOffset` when given.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const group = packet.ipv6Address.solicitedNodeAddress(packet.ipv6Address.toIpv6Bytes("2001:db8::abcd:1234"));
 * packet.address.macToString(packet.ipv6Address.multicastMac(group)); // "33:33:ff:cd:12:34"
 * ```
 */
export function multicastMac(
  group: Uint8Array,
  groupOffset = 0,
  out: Uint8Array = Buffer.alloc(6),
  outOffset = 0,
): Uint8Array {
  out[outOffset] = 0x33;
  out[outOffset + 1] = 0x33;
  out[outOffset + 2] = group[groupOffset + 12];
  out[outOffset + 3] = group[groupOffset + 13];
  out[outOffset + 4] = group[groupOffset + 14];
  out[outOffset + 5] = group[groupOffset + 15];
  return out;
}

/**
 * The address as one 128-bit BigInt (prefix arithmetic; not for per-packet work).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const first = packet.ipv6Address.ipv6ToBigInt(packet.ipv6Address.toIpv6Bytes("2001:db8::"));
 * const last = packet.ipv6Address.ipv6ToBigInt(packet.ipv6Address.toIpv6Bytes("2001:db8::ff"));
 * console.log(last - first + 1n); // 256n
 * ```
 */
export function ipv6ToBigInt(buf: Uint8Array, offset = 0): bigint {
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(buf[offset + i] as number);
  return v;
}

/**
 * The 16 bytes of a 128-bit value. RangeError outside 0..2^128-1.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const base = packet.ipv6Address.ipv6ToBigInt(packet.ipv6Address.toIpv6Bytes("2001:db8::"));
 * packet.ipv6Address.formatIpv6(packet.ipv6Address.bigIntToIpv6(base + 0x100n)); // "2001:db8::100"
 * ```
 */
export function bigIntToIpv6(v: bigint): Uint8Array {
  if (v < 0n || v >> 128n !== 0n) throw new RangeError(`IPv6 value ${v} is outside 0..2^128-1`);
  const out = new Uint8Array(16);
  let x = v;
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/**
 * Adds `n` (a non-negative safe integer) to the address in place, carrying across all 16 bytes: a sweep's
 * step without BigInt. Returns false (the address wrapped past ffff:...:ffff) on overflow.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const a = packet.ipv6Address.toIpv6Bytes("2001:db8::ffff");
 * packet.ipv6Address.addToIpv6(a, 1); // true; a is now 2001:db8::1:0
 * ```
 */
export function addToIpv6(buf: Uint8Array, n: number, offset = 0): boolean {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`addToIpv6: ${n} is not a safe non-negative integer`);
  let carry = n;
  for (let i = offset + 15; i >= offset && carry > 0; i--) {
    const s = buf[i] + (carry % 256);
    carry = Math.floor(carry / 256) + (s > 255 ? 1 : 0);
    buf[i] = s & 255;
  }
  return carry === 0;
}

/**
 * Compares two addresses as unsigned 128-bit numbers: negative, 0 or positive.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const { compareIpv6, toIpv6Bytes, formatIpv6 } = packet.ipv6Address;
 * const sorted = ["2001:db8::20", "2001:db8::3"].map((s) => toIpv6Bytes(s)).sort((a, b) => compareIpv6(a, b));
 * console.log(sorted.map((b) => formatIpv6(b))); // ["2001:db8::3", "2001:db8::20"]
 * ```
 */
export function compareIpv6(a: Uint8Array, b: Uint8Array, aOffset = 0, bOffset = 0): number {
  for (let i = 0; i < 16; i++) {
    const d = a[aOffset + i] - b[bOffset + i];
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * An IPv6 prefix, or a range of addresses, as first and last address (inclusive).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const block: packet.ipv6Address.Ipv6Block = packet.ipv6Address.parseIpv6Prefix("2001:db8::/120");
 * console.log(packet.ipv6Address.formatIpv6(block.first), packet.ipv6Address.formatIpv6(block.last), block.size); // 2001:db8:: 2001:db8::ff 256n
 * ```
 */
export interface Ipv6Block {
  /** the first address */
  first: Uint8Array;
  /** the last address */
  last: Uint8Array;
  /** number of addresses: last - first + 1 */
  size: bigint;
  /** the prefix length; null for a range */
  prefixLength: number | null;
  /** the zone index of the text, null when absent */
  zone: string | null;
}

/**
 * Number of addresses in a prefix of this length: 2^(128 - length).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.ipv6Address.prefixSize(112); // 65536n
 * ```
 */
export function prefixSize(length: number): bigint {
  if (!Number.isInteger(length) || length < 0 || length > 128) {
    throw new RangeError(`IPv6 prefix length ${length} is outside 0..128`);
  }
  return 1n << BigInt(128 - length);
}

/**
 * Throws TypeError unless the block holds at most `cap` addresses: a /64 holds 2^64 and is never meant to
 * be swept whole, so callers refuse big blocks unless the user set a cap they accept.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const spec = "2001:db8::/64";
 * packet.ipv6Address.checkBlockSize(spec, packet.ipv6Address.parseIpv6Prefix(spec), 65536); // throws: too many addresses
 * ```
 */
export function checkBlockSize(spec: string, block: Ipv6Block, cap: number | bigint): void {
  const limit = BigInt(cap);
  if (block.size > limit) {
    const what = block.prefixLength !== null ? `a /${block.prefixLength} holds` : "the range holds";
    throw new TypeError(
      `IPv6 target "${spec}" is too large: ${what} ${block.size} addresses, more than the cap of ${limit}`,
    );
  }
}

function parseAddressOf(spec: string, text: string, what: string): ParsedIpv6 {
  const p = tryParseIpv6(text);
  if (!p) throw new TypeError(`invalid IPv6 ${what} "${spec}": ${explainIpv6(text)}`);
  return p;
}

/**
 * Parses "2001:db8::/120" (a zone may follow the address: "fe80::%eth0/64"). Host bits are cleared, as for
 * IPv4 CIDRs (target-set.ts) and as nmap does: "2001:db8::5/126" is 2001:db8::4 .. 2001:db8::7. The length
 * is decimal 0..128 without leading zeros. Throws TypeError with a one-line reason.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const block = packet.ipv6Address.parseIpv6Prefix("2001:db8::5/126");
 * packet.ipv6Address.formatIpv6(block.first); // "2001:db8::4"
 * ```
 */
export function parseIpv6Prefix(spec: string): Ipv6Block {
  if (typeof spec !== "string")
    throw new TypeError(`invalid IPv6 prefix: expected a string, got ${typeof spec}`);
  const slash = spec.lastIndexOf("/");
  if (slash < 0) throw new TypeError(`invalid IPv6 prefix "${spec}": expected address/length`);
  const bitsText = spec.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText) || Number(bitsText) > 128) {
    throw new TypeError(`invalid IPv6 prefix "${spec}": prefix length "${bitsText}" is not a number 0..128`);
  }
  const length = Number(bitsText);
  const p = parseAddressOf(spec, spec.slice(0, slash), "prefix");
  const first = new Uint8Array(p.bytes);
  const last = new Uint8Array(p.bytes);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, length - i * 8));
    const mask = 0xff >>> keep; // host bits of this byte
    first[i] = (first[i] as number) & ~mask & 0xff;
    last[i] = (first[i] as number) | mask;
  }
  return { first, last, size: prefixSize(length), prefixLength: length, zone: p.zone };
}

/**
 * Parses a range in the last group, "2001:db8::1-ff" (hex, inclusive, low <= high). nmap (7.93, man page
 * "Target Specification") accepts no ranges for IPv6 at all: this form is wireprobe's own, the smallest one
 * that covers the "ranges" (at most 65,536 addresses, one group), and callers that want strict nmap
 * parity can refuse it. Throws TypeError with a one-line reason.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const block = packet.ipv6Address.parseIpv6Range("2001:db8::1-ff");
 * console.log(block.size, block.prefixLength); // 255n null
 * ```
 */
export function parseIpv6Range(spec: string): Ipv6Block {
  if (typeof spec !== "string")
    throw new TypeError(`invalid IPv6 range: expected a string, got ${typeof spec}`);
  const dash = spec.lastIndexOf("-");
  if (dash < 0)
    throw new TypeError(`invalid IPv6 range "${spec}": expected address-lastgroup (2001:db8::1-ff)`);
  const endText = spec.slice(dash + 1);
  if (!/^[0-9a-fA-F]{1,4}$/.test(endText)) {
    throw new TypeError(
      `invalid IPv6 range "${spec}": end "${endText}" is not 1 to 4 hex digits (the last group)`,
    );
  }
  const startText = spec.slice(0, dash);
  if (startText.includes("%")) {
    throw new TypeError(`invalid IPv6 range "${spec}": a zone index is not allowed in a range`);
  }
  const p = parseAddressOf(spec, startText, "range");
  if (p.dottedTail) {
    throw new TypeError(`invalid IPv6 range "${spec}": the range must end in a hex group, not a dotted quad`);
  }
  const lo = (p.bytes[14]! << 8) | p.bytes[15]!;
  const hi = Number.parseInt(endText, 16);
  if (hi < lo) {
    throw new TypeError(`invalid IPv6 range "${spec}": runs backwards (${lo.toString(16)} > ${endText})`);
  }
  const last = new Uint8Array(p.bytes);
  last[14] = hi >>> 8;
  last[15] = hi & 255;
  return { first: p.bytes, last, size: BigInt(hi - lo + 1), prefixLength: null, zone: null };
}
