// An IP address of either family, for the boundaries where a family is not implied: the addon's send and receive
// names, netlink's answers (route decisions, link addresses). IPv4 stays an unsigned 32-bit number, as in the
// engine's hot paths (target sets, packets); IPv6 is its 16 bytes. No string in between: records format
// addresses once, at the edge.
import { isIPv6 } from "node:net";
import { intToIpv4, parseDottedQuad } from "./address";

/**
 * An IPv4 address as a number, where the family is not implied (see {@link IpAddress}).
 *
 * @example
 * ```ts
 * import { type Ipv4Address, packet } from "wireprobe";
 *
 * const gw: Ipv4Address = { family: 4, v4: packet.address.ipv4ToInt("198.51.100.1") };
 * ```
 */
export interface Ipv4Address {
  /** always 4 */
  readonly family: 4;
  /** the address as an unsigned 32-bit number (198.51.100.1 === 0xc6336401) */
  readonly v4: number;
}

/**
 * An IPv6 address as its 16 bytes, where the family is not implied (see {@link IpAddress}).
 *
 * @example
 * ```ts
 * import { type Ipv6Address, packet } from "wireprobe";
 *
 * const gw: Ipv6Address = { family: 6, bytes: packet.ipv6Address.toIpv6Bytes("2001:db8::1") };
 * ```
 */
export interface Ipv6Address {
  /** always 6 */
  readonly family: 6;
  /** the 16 bytes in network order; never written to */
  readonly bytes: Uint8Array;
}

/**
 * An IP address of either family as a number (IPv4) or 16 bytes (IPv6), no text: what netlink's answers carry
 * next to their text (`LinkAddress.ip`, a route decision's `gatewayIp` and `sourceIp`), for code that
 * computes with them.
 *
 * @example
 * ```ts
 * import { type IpAddress, listLinks, packet } from "wireprobe";
 *
 * const text = (ip: IpAddress): string =>
 *   ip.family === 4 ? packet.address.intToIpv4(ip.v4) : packet.ipv6Address.formatIpv6(ip.bytes);
 * for (const link of listLinks()) for (const a of link.addresses) console.log(link.name, text(a.ip));
 * ```
 */
export type IpAddress = Ipv4Address | Ipv6Address;
export type IpFamily = IpAddress["family"];

/** Bytes of one address of the family in a packed list (the addon's send names). */
export function addressLength(family: IpFamily): 4 | 16 {
  return family === 4 ? 4 : 16;
}

function checkV4(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new TypeError(`invalid IPv4 number ${n}: expected an integer 0..4294967295`);
  }
  return n;
}

export function ipv4(n: number): Ipv4Address {
  return { family: 4, v4: checkV4(n) };
}

/** An IPv6 address from its 16 bytes (copied). */
export function ipv6(bytes: Uint8Array): Ipv6Address {
  if (bytes.length !== 16) throw new TypeError(`invalid IPv6 address: ${bytes.length} bytes, expected 16`);
  return { family: 6, bytes: Uint8Array.from(bytes) };
}

/** The address in `len` (4 or 16) bytes at `offset` of `buf`, network order. */
export function readIp(buf: Uint8Array, offset: number, len: number): IpAddress {
  if (len !== 4 && len !== 16) throw new TypeError(`invalid IP address length ${len}: expected 4 or 16`);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + len > buf.length) {
    throw new RangeError(`readIp: no ${len} bytes at offset ${offset} in a ${buf.length}-byte buffer`);
  }
  if (len === 4) {
    return {
      family: 4,
      v4:
        ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0,
    };
  }
  return { family: 6, bytes: buf.slice(offset, offset + 16) };
}

/** Writes the address in network order at `offset`; returns the offset after it. */
export function writeIp(address: IpAddress, buf: Uint8Array, offset: number): number {
  const len = addressLength(address.family);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + len > buf.length) {
    throw new RangeError(
      `writeIp: no room for ${len} bytes at offset ${offset} in a ${buf.length}-byte buffer`,
    );
  }
  if (address.family === 4) {
    const v = address.v4;
    buf[offset] = v >>> 24;
    buf[offset + 1] = (v >>> 16) & 255;
    buf[offset + 2] = (v >>> 8) & 255;
    buf[offset + 3] = v & 255;
  } else {
    buf.set(address.bytes, offset);
  }
  return offset + len;
}

/** "198.51.100.1", or the shortest IPv6 text ("2001:db8::1", RFC 5952). */
export function formatIp(address: IpAddress): string {
  if (address.family === 4) return intToIpv4(address.v4);
  const b = address.bytes;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  // The longest run of two or more zero words becomes "::" (the first such run on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    words
      .slice(from, to)
      .map((w) => w.toString(16))
      .join(":");
  if (bestStart < 0) return hex(0, 8);
  // IPv4-mapped and IPv4-compatible addresses keep a dotted tail, as inet_ntop writes them.
  if (bestStart === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
    return `::${bestLen === 5 ? "ffff:" : ""}${intToIpv4(((words[6]! << 16) | words[7]!) >>> 0)}`;
  }
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Parses either family's text form; null when it is neither (the IPv4 form as strict as ipv4ToInt). */
export function parseIp(s: string): IpAddress | null {
  const v4 = parseDottedQuad(s);
  if (v4 >= 0) return { family: 4, v4 };
  if (!isIPv6(s) || s.includes("%")) return null;
  return { family: 6, bytes: parseIpv6Bytes(s) };
}

/** The 16 bytes of a valid IPv6 text (isIPv6 checked by the caller). */
function parseIpv6Bytes(s: string): Uint8Array {
  let text = s;
  let tail: number[] = [];
  // A dotted IPv4 tail gives the last two words.
  const lastColon = s.lastIndexOf(":");
  const tailV4 = parseDottedQuad(s.slice(lastColon + 1));
  if (tailV4 >= 0) {
    tail = [tailV4 >>> 16, tailV4 & 0xffff];
    text = s.slice(0, lastColon + 1);
    if (!text.endsWith("::")) text = text.slice(0, -1);
  }
  const toWords = (part: string) => (part === "" ? [] : part.split(":").map((w) => Number.parseInt(w, 16)));
  const gap = text.indexOf("::");
  let words: number[];
  if (gap < 0) {
    words = [...toWords(text), ...tail];
  } else {
    const before = toWords(text.slice(0, gap));
    const after = [...toWords(text.slice(gap + 2)), ...tail];
    words = [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >>> 8;
    out[2 * i + 1] = words[i]! & 255;
  }
  return out;
}

export function ipEquals(a: IpAddress, b: IpAddress): boolean {
  if (a.family === 4) return b.family === 4 && a.v4 === b.v4;
  if (b.family !== 6) return false;
  for (let i = 0; i < 16; i++) if (a.bytes[i] !== b.bytes[i]) return false;
  return true;
}

/** The IPv4 number of an address, or null for IPv6 (for the paths that are IPv4-only so far). */
export function v4Of(address: IpAddress | null): number | null {
  return address !== null && address.family === 4 ? address.v4 : null;
}

/**
 * Destinations for InetSocket.send, packed: 4 bytes per IPv4 address (an AF_INET socket), 16 per IPv6 address
 * (AF_INET6). Reused across batches: set() the addresses of a batch, then hand view(count) to the send.
 */
export class PackedAddresses {
  readonly family: IpFamily;
  readonly buffer: Buffer;
  private readonly stride: 4 | 16;

  constructor(family: IpFamily, capacity: number) {
    this.family = family;
    this.stride = addressLength(family);
    this.buffer = Buffer.alloc(capacity * this.stride);
  }

  get capacity(): number {
    return this.buffer.length / this.stride;
  }

  /** Slot k gets an IPv4 address held as its number (the hot path: no object). */
  setV4(k: number, v4: number): void {
    if (this.family !== 4) throw new TypeError("setV4 on a list of IPv6 addresses");
    this.buffer.writeUInt32BE(v4, k * 4);
  }

  set(k: number, address: IpAddress): void {
    if (address.family !== this.family) {
      throw new TypeError(`an IPv${address.family} address in a list of IPv${this.family} addresses`);
    }
    writeIp(address, this.buffer, k * this.stride);
  }

  /** The first `count` addresses, for one send (a view: valid until the next set). */
  view(count: number): Buffer {
    return count * this.stride === this.buffer.length
      ? this.buffer
      : this.buffer.subarray(0, count * this.stride);
  }

  /** The addresses from slot `from` on up to `to` (a view), for a send that resumes after a short one. */
  slice(from: number, to: number): Buffer {
    return this.buffer.subarray(from * this.stride, to * this.stride);
  }
}

/** Packs IPv4 numbers for InetSocket.send (a new Buffer of 4 bytes each). */
export function packIpv4(addresses: readonly number[]): Buffer {
  const out = Buffer.alloc(addresses.length * 4);
  for (let k = 0; k < addresses.length; k++) out.writeUInt32BE(checkV4(addresses[k]!), k * 4);
  return out;
}

/** Packs addresses of one family for InetSocket.send (a new Buffer, 4 or 16 bytes each). */
export function packIps(family: IpFamily, addresses: readonly IpAddress[]): Buffer {
  const packed = new PackedAddresses(family, addresses.length);
  for (let k = 0; k < addresses.length; k++) packed.set(k, addresses[k]!);
  return packed.buffer;
}

/**
 * The source of received packet p from an inet socket's batch: `value` is its meta[3] (see META in
 * src/native/types.ts): the IPv4 number itself, or on an IPv6 socket the offset of the 16 bytes in `data`.
 */
export function ipFromMeta(value: number, data: Uint8Array, family: IpFamily): IpAddress {
  return family === 4 ? { family: 4, v4: value } : readIp(data, value, 16);
}

/**
 * Packs addresses given as text (all of one family) for InetSocket.send; throws TypeError for an invalid
 * address or a mix of families. For callers that hold text anyway (tests, one-off sends), not for sweeps.
 */
export function packAddressText(texts: readonly string[]): Buffer {
  const addresses = texts.map((s) => {
    const a = parseIp(s);
    if (a === null) throw new TypeError(`invalid IP address "${s}"`);
    return a;
  });
  return packIps(addresses[0]?.family ?? 4, addresses);
}
