// IPv4 and MAC address helpers. Parsing walks char codes instead of using regexes: sweeps turn tens of
// thousands of targets into numbers and the parse must not dominate that.

/**
 * Parses a dotted quad, returning -1 when it is not one (no allocation, no throw: the hot path).
 * Leading zeros are rejected ("01.2.3.4", "1.2.3.010"): inet_aton reads them as octal and other parsers as
 * decimal, so such an address means different hosts to different tools. nmap accepts them; we refuse.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const n = packet.address.parseDottedQuad("198.51.100.7"); // 3325256711
 * const bad = packet.address.parseDottedQuad("198.51.100.07"); // -1: leading zero
 * ```
 */
export function parseDottedQuad(s: string): number {
  const n = s.length;
  if (n < 7 || n > 15) return -1;
  let result = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      result = result * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && part === 0) return -1;
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  // Multiplication rather than shifts: shifts would make the top octet signed.
  return result * 256 + part;
}

/**
 * Builds the error message for an invalid address; only runs on the failure path, so clarity wins over speed.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const input = "198.51.100.256";
 * if (!packet.address.isValidIpv4(input)) console.error(packet.address.explainIpv4(input));
 * ```
 */
export function explainIpv4(s: string): string {
  const parts = s.split(".");
  if (parts.length !== 4) return `invalid IPv4 address "${s}": expected 4 dot-separated decimal octets`;
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (p.length === 0) return `invalid IPv4 address "${s}": octet ${i + 1} is empty`;
    for (let j = 0; j < p.length; j++) {
      const c = p.charCodeAt(j);
      if (c < 48 || c > 57)
        return `invalid IPv4 address "${s}": octet ${i + 1} "${p}" is not a decimal number`;
    }
    if (p.length > 1 && p.charCodeAt(0) === 48) {
      return `invalid IPv4 address "${s}": octet ${i + 1} "${p}" has a leading zero (octal in some parsers, decimal in others)`;
    }
    if (Number(p) > 255) return `invalid IPv4 address "${s}": octet ${i + 1} "${p}" is greater than 255`;
  }
  return `invalid IPv4 address "${s}"`;
}

/**
 * Converts a strict dotted quad ("192.0.2.1") to an unsigned 32-bit number (3221225985).
 * Throws TypeError for anything else: wrong octet count, empty octets, signs, spaces, octets over 255, and
 * leading zeros ("01.2.3.4"), which tools disagree on (octal vs decimal).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const n = packet.address.ipv4ToInt("198.51.100.1"); // 3325256705 (0xc6336401)
 * const next = packet.address.intToIpv4(n + 1); // "198.51.100.2"
 * ```
 */
export function ipv4ToInt(s: string): number {
  if (typeof s !== "string") throw new TypeError(`invalid IPv4 address: expected a string, got ${typeof s}`);
  const v = parseDottedQuad(s);
  if (v < 0) throw new TypeError(explainIpv4(s));
  return v;
}

/**
 * True when ipv4ToInt would accept the value.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.address.isValidIpv4("198.51.100.1"); // true
 * packet.address.isValidIpv4("010.0.0.1"); // false: leading zero
 * ```
 */
export function isValidIpv4(s: unknown): boolean {
  return typeof s === "string" && parseDottedQuad(s) >= 0;
}

/**
 * Converts an unsigned 32-bit number to a dotted quad. Throws TypeError unless 0 <= n <= 0xffffffff and an
 * integer: a negative value usually means a signed `|`/`<<` result slipped through without `>>> 0`.
 *
 * @example
 * ```ts
 * import { TargetSet, packet } from "wireprobe";
 *
 * const set = TargetSet.parse(["198.51.100.0/30"]);
 * for (const n of set) console.log(packet.address.intToIpv4(n)); // 198.51.100.0 ... 198.51.100.3
 * ```
 */
export function intToIpv4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new TypeError(`invalid IPv4 number ${n}: expected an integer 0..4294967295`);
  }
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * Accepts an address either as a dotted quad or as its unsigned 32-bit number.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.address.toIpv4Int("198.51.100.1") === packet.address.toIpv4Int(0xc6336401); // true
 * ```
 */
export function toIpv4Int(addr: string | number): number {
  if (typeof addr === "number") {
    if (!Number.isInteger(addr) || addr < 0 || addr > 0xffffffff) {
      throw new TypeError(`invalid IPv4 number ${addr}: expected an integer 0..4294967295`);
    }
    return addr;
  }
  return ipv4ToInt(addr);
}

/**
 * ff:ff:ff:ff:ff:ff. Shared instance: never write into it.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const broadcast = frame.subarray(0, 6).equals(packet.address.BROADCAST_MAC);
 * ```
 */
export const BROADCAST_MAC: Buffer = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/**
 * 00:00:00:00:00:00, the "unknown" target hardware address of an ARP request. Shared: never write into it.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const probe = packet.arp.encode({ op: 1, senderMac: "02:00:00:00:00:01", senderIp: 0, targetMac: packet.address.ZERO_MAC, targetIp: "198.51.100.11" });
 * ```
 */
export const ZERO_MAC: Buffer = Buffer.alloc(6);

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

function macInvalid(s: string, why: string): TypeError {
  return new TypeError(`invalid MAC address "${s}": ${why}`);
}

/**
 * Parses "aa:bb:cc:dd:ee:ff" or "aa-bb-cc-dd-ee-ff" (either case; one separator kind throughout; exactly two
 * hex digits per octet) into 6 bytes, written into `buf` at `offset` when given, else into a new Buffer.
 * Throws TypeError on anything else.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const mac = packet.address.parseMac("02-00-00-AB-CD-EF"); // <Buffer 02 00 00 ab cd ef>
 * const frame = Buffer.alloc(14);
 * packet.address.parseMac("ff:ff:ff:ff:ff:ff", frame, 0); // written in place
 * ```
 */
export function parseMac(s: string, buf?: Buffer, offset = 0): Buffer {
  if (typeof s !== "string") throw new TypeError(`invalid MAC address: expected a string, got ${typeof s}`);
  if (s.length !== 17) throw macInvalid(s, "expected 6 two-digit hex octets separated by ':' or '-'");
  const sep = s.charCodeAt(2);
  if (sep !== 58 && sep !== 45) throw macInvalid(s, "separator must be ':' or '-'");
  const out = buf ?? Buffer.alloc(6);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + 6 > out.length) {
    throw new RangeError(`parseMac: no room for 6 bytes at offset ${offset} in a ${out.length}-byte buffer`);
  }
  // Validate everything before writing so a caller's buffer is left untouched on error.
  for (let i = 0; i < 6; i++) {
    const p = i * 3;
    if (i < 5 && s.charCodeAt(p + 2) !== sep) throw macInvalid(s, "mixed or misplaced separators");
    if (hexValue(s.charCodeAt(p)) < 0 || hexValue(s.charCodeAt(p + 1)) < 0) {
      throw macInvalid(s, `octet ${i + 1} is not two hex digits`);
    }
  }
  for (let i = 0; i < 6; i++) {
    const p = i * 3;
    out[offset + i] = (hexValue(s.charCodeAt(p)) << 4) | hexValue(s.charCodeAt(p + 1));
  }
  return out;
}

/**
 * True when parseMac would accept the value.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.address.isValidMac("02:00:00:ab:cd:ef"); // true
 * packet.address.isValidMac("2:0:0:ab:cd:ef"); // false: two hex digits per octet
 * ```
 */
export function isValidMac(s: unknown): boolean {
  if (typeof s !== "string" || s.length !== 17) return false;
  const sep = s.charCodeAt(2);
  if (sep !== 58 && sep !== 45) return false;
  for (let i = 0; i < 6; i++) {
    const p = i * 3;
    if (i < 5 && s.charCodeAt(p + 2) !== sep) return false;
    if (hexValue(s.charCodeAt(p)) < 0 || hexValue(s.charCodeAt(p + 1)) < 0) return false;
  }
  return true;
}

/**
 * Formats the 6 bytes at `offset` as lowercase colon-separated hex. Throws RangeError if they are not all there.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const dst = packet.address.macToString(frame, 0);
 * const src = packet.address.macToString(frame, 6);
 * ```
 */
export function macToString(buf: Uint8Array, offset = 0): string {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + 6 > buf.length) {
    throw new RangeError(`macToString: no 6 bytes at offset ${offset} in a ${buf.length}-byte buffer`);
  }
  return `${HEX[buf[offset]]}:${HEX[buf[offset + 1]]}:${HEX[buf[offset + 2]]}:${HEX[buf[offset + 3]]}:${HEX[buf[offset + 4]]}:${HEX[buf[offset + 5]]}`;
}

/**
 * The colon form of a MAC held as a 48-bit number (the inverse of macToNumber).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.address.numberToMac(0x0200_00ab_cdef); // "02:00:00:ab:cd:ef"
 * ```
 */
export function numberToMac(n: number): string {
  const hi = Math.floor(n / 0x100000000);
  const lo = n >>> 0;
  return `${HEX[(hi >>> 8) & 255]}:${HEX[hi & 255]}:${HEX[lo >>> 24]}:${HEX[(lo >>> 16) & 255]}:${HEX[(lo >>> 8) & 255]}:${HEX[lo & 255]}`;
}

/**
 * Reads the 6 bytes at `offset` as one 48-bit number (exact in a double), so a sweep can compare and
 * deduplicate answering MACs without building strings. Throws RangeError if the bytes are not all there.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const seen = new Set<number>();
 * const src = packet.address.macToNumber(frame, 6);
 * if (!seen.has(src)) seen.add(src); // no string per frame
 * ```
 */
export function macToNumber(buf: Uint8Array, offset = 0): number {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + 6 > buf.length) {
    throw new RangeError(`macToNumber: no 6 bytes at offset ${offset} in a ${buf.length}-byte buffer`);
  }
  const hi = (buf[offset] << 8) | buf[offset + 1];
  const lo =
    ((buf[offset + 2] << 24) | (buf[offset + 3] << 16) | (buf[offset + 4] << 8) | buf[offset + 5]) >>> 0;
  return hi * 0x100000000 + lo;
}

/**
 * Writes a MAC held as a 48-bit number (macToNumber's) as 6 bytes at `offset`.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const frame = Buffer.alloc(14);
 * packet.address.writeMacNumber(packet.address.macToNumber(packet.address.parseMac("02:00:00:00:00:01")), frame, 6);
 * ```
 */
export function writeMacNumber(n: number, buf: Uint8Array, offset = 0): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + 6 > buf.length) {
    throw new RangeError(
      `writeMacNumber: no room for 6 bytes at offset ${offset} in a ${buf.length}-byte buffer`,
    );
  }
  const hi = Math.floor(n / 0x100000000);
  const lo = n >>> 0;
  buf[offset] = (hi >>> 8) & 255;
  buf[offset + 1] = hi & 255;
  buf[offset + 2] = lo >>> 24;
  buf[offset + 3] = (lo >>> 16) & 255;
  buf[offset + 4] = (lo >>> 8) & 255;
  buf[offset + 5] = lo & 255;
}
