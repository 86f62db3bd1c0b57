// IPv4 header (RFC 791). Options are carried as raw bytes: probes never need to interpret them.

import { intToIpv4, toIpv4Int } from "../addr/address";
import { internetChecksum } from "./checksum";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, u32, w16, w32 } from "./internal";

/** bytes of an IPv4 header without options */
export const HEADER_LENGTH = 20;
/** bytes of an IPv4 header with the most options (40 bytes) */
export const MAX_HEADER_LENGTH = 60;
/** IP protocol number of ICMP */
export const PROTOCOL_ICMP = 1;
/** IP protocol number of TCP */
export const PROTOCOL_TCP = 6;
/** IP protocol number of UDP */
export const PROTOCOL_UDP = 17;
/** values of the 3-bit flags field */
export const FLAG_RESERVED = 0x4;
/** don't fragment */
export const FLAG_DF = 0x2;
/** more fragments */
export const FLAG_MF = 0x1;

/**
 * A decoded IPv4 header, addresses as text and as numbers.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const { ipv4 } = packet.decodeFrame(frame, { linkType: "ethernet" });
 * if (ipv4) console.log(`${ipv4.src} -> ${ipv4.dst} proto ${ipv4.protocol} ttl ${ipv4.ttl} id ${ipv4.id}`);
 * ```
 */
export interface Ipv4Header {
  /** always 4 */
  version: number;
  /** header length in bytes (IHL * 4): 20..60 */
  headerLength: number;
  /** the whole TOS byte: DSCP << 2 | ECN */
  tos: number;
  /** the total length field: header and payload bytes */
  totalLength: number;
  /** identification */
  id: number;
  /** 3-bit flags field: FLAG_RESERVED | FLAG_DF | FLAG_MF */
  flags: number;
  /** DF is set */
  dontFragment: boolean;
  /** MF is set */
  moreFragments: boolean;
  /** in 8-byte units, as on the wire */
  fragmentOffset: number;
  /** time to live */
  ttl: number;
  /** the payload's protocol: PROTOCOL_ICMP, PROTOCOL_TCP, PROTOCOL_UDP, ... */
  protocol: number;
  /** the header checksum as received */
  checksum: number;
  /** source address, dotted quad */
  src: string;
  /** destination address, dotted quad */
  dst: string;
  /** src and dst as unsigned 32-bit numbers (pseudo-header sums, probe matching) */
  srcInt: number;
  /** dst as an unsigned 32-bit number */
  dstInt: number;
  /** raw option bytes (a view into the decoded buffer), empty when IHL is 5 */
  options: Buffer;
  /** where the payload starts in the buffer */
  payloadOffset: number;
  /** total length minus header length, or what is left of it when `truncated` */
  payloadLength: number;
  /** true only with allowTruncated, when fewer bytes are present than the total length says */
  truncated: boolean;
}

/**
 * What encode writes into an IPv4 header; the checksum is computed.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const fields: packet.ipv4.Ipv4Fields = { src: "198.51.100.10", dst: "198.51.100.11", protocol: packet.ipv4.PROTOCOL_UDP, ttl: 1, dontFragment: true, payloadLength: 8 };
 * const header = packet.ipv4.encode(fields);
 * ```
 */
export interface Ipv4Fields {
  /** the TOS byte (DSCP << 2 | ECN), default 0 */
  tos?: number;
  /** identification, default 0 */
  id?: number;
  /** raw 3-bit flags; OR-ed with dontFragment / moreFragments */
  flags?: number;
  /** set DF */
  dontFragment?: boolean;
  /** set MF */
  moreFragments?: boolean;
  /** in 8-byte units */
  fragmentOffset?: number;
  /** default 64 */
  ttl?: number;
  /** the payload's protocol (PROTOCOL_TCP, ...) */
  protocol: number;
  /** source address: dotted quad or unsigned 32-bit number */
  src: string | number;
  /** destination address: dotted quad or unsigned 32-bit number */
  dst: string | number;
  /** raw option bytes; zero-padded (end-of-options) to a multiple of 4, at most 40 */
  options?: Uint8Array;
  /** bytes after the header, for the total length field; default 0 */
  payloadLength?: number;
}

/**
 * Options of decode.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const quoted: Buffer; // the datagram an ICMP error quotes: its header and 8 bytes
 * const inner = packet.ipv4.decode(quoted, 0, quoted.length, { allowTruncated: true, verifyChecksum: false });
 * ```
 */
export interface Ipv4DecodeOptions {
  /** default true: a wrong header checksum throws DecodeError "bad-checksum" */
  verifyChecksum?: boolean;
  /**
   * Accept fewer bytes than the total length says (the datagram quoted in an ICMP error, a snaplen-cut
   * capture): payloadLength is then cut to what is present and `truncated` is set. The header itself must
   * still be complete.
   */
  allowTruncated?: boolean;
}

function optionsLength(options: Uint8Array | undefined): number {
  if (!options || options.length === 0) return 0;
  const padded = (options.length + 3) & ~3;
  if (padded > MAX_HEADER_LENGTH - HEADER_LENGTH) {
    throw new RangeError(`ipv4: options are at most 40 bytes, got ${options.length}`);
  }
  return padded;
}

/**
 * Header bytes `encode` writes: 20 plus the options padded to a multiple of 4.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const n = packet.ipv4.encodingLength({ src: 0, dst: 0, protocol: 6, options: Uint8Array.of(1, 1, 1) }); // 24
 * ```
 */
export function encodingLength(fields: Ipv4Fields): number {
  return HEADER_LENGTH + optionsLength(fields.options);
}

/**
 * Writes the IPv4 header (not the payload) with a freshly computed checksum into `buf` at `offset` (a new
 * Buffer when omitted) and returns the buffer. Throws RangeError/TypeError for out-of-range fields.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const payload = packet.udp.encode({ srcPort: 40000, dstPort: 33434 });
 * const header = packet.ipv4.encode({ src: "198.51.100.10", dst: "203.0.113.20", protocol: packet.ipv4.PROTOCOL_UDP, ttl: 1, payloadLength: payload.length });
 * const datagram = Buffer.concat([header, payload]);
 * ```
 */
export function encode(fields: Ipv4Fields, buf?: Buffer, offset = 0): Buffer {
  const optLen = optionsLength(fields.options);
  const headerLength = HEADER_LENGTH + optLen;
  const out = encodeTarget("ipv4", buf, offset, headerLength);
  const totalLength = headerLength + checkUint("ipv4: payloadLength", fields.payloadLength ?? 0, 0xffff);
  if (totalLength > 0xffff) throw new RangeError(`ipv4: total length ${totalLength} exceeds 65535`);
  const flags =
    checkUint("ipv4: flags", fields.flags ?? 0, 7) |
    (fields.dontFragment ? FLAG_DF : 0) |
    (fields.moreFragments ? FLAG_MF : 0);
  const fragmentOffset = checkUint("ipv4: fragmentOffset", fields.fragmentOffset ?? 0, 0x1fff);
  const src = toIpv4Int(fields.src);
  const dst = toIpv4Int(fields.dst);
  out[offset] = 0x40 | (headerLength >>> 2);
  out[offset + 1] = checkUint("ipv4: tos", fields.tos ?? 0, 0xff);
  w16(out, offset + 2, totalLength);
  w16(out, offset + 4, checkUint("ipv4: id", fields.id ?? 0, 0xffff));
  w16(out, offset + 6, (flags << 13) | fragmentOffset);
  out[offset + 8] = checkUint("ipv4: ttl", fields.ttl ?? 64, 0xff);
  out[offset + 9] = checkUint("ipv4: protocol", fields.protocol, 0xff);
  w16(out, offset + 10, 0);
  w32(out, offset + 12, src);
  w32(out, offset + 16, dst);
  if (optLen > 0 && fields.options) {
    out.set(fields.options, offset + HEADER_LENGTH);
    out.fill(0, offset + HEADER_LENGTH + fields.options.length, offset + headerLength);
  }
  w16(out, offset + 10, internetChecksum(out, offset, headerLength));
  return out;
}

/**
 * Decodes the IPv4 header at buf[offset, offset + length). Validates version 4, IHL >= 5, that the header
 * is present, total length >= header length, and total length <= length (unless allowTruncated). Bytes past
 * the total length (Ethernet padding) are ignored. The checksum is verified unless verifyChecksum is false.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const datagram: Buffer; // from a raw IPv4 socket
 * const ip = packet.ipv4.decode(datagram);
 * console.log(ip.src, ip.ttl, ip.protocol === packet.ipv4.PROTOCOL_ICMP ? "ICMP" : ip.protocol);
 * ```
 */
export function decode(buf: Buffer, offset = 0, length?: number, options?: Ipv4DecodeOptions): Ipv4Header {
  const end = decodeRange("ipv4", buf, offset, length);
  const available = end - offset;
  if (available < HEADER_LENGTH) {
    throw new DecodeError("ipv4", "truncated", `header needs ${HEADER_LENGTH} bytes, have ${available}`);
  }
  const vihl = buf[offset];
  const version = vihl >>> 4;
  if (version !== 4) throw new DecodeError("ipv4", "bad-version", `version is ${version}, not 4`);
  const headerLength = (vihl & 0x0f) * 4;
  if (headerLength < HEADER_LENGTH) {
    throw new DecodeError("ipv4", "bad-length", `IHL ${vihl & 0x0f} is below the minimum of 5`);
  }
  if (headerLength > available) {
    throw new DecodeError(
      "ipv4",
      "truncated",
      `header length ${headerLength} exceeds the ${available} bytes present`,
    );
  }
  const totalLength = u16(buf, offset + 2);
  if (totalLength < headerLength) {
    throw new DecodeError(
      "ipv4",
      "bad-length",
      `total length ${totalLength} is below the header length ${headerLength}`,
    );
  }
  let truncated = false;
  let payloadLength = totalLength - headerLength;
  if (totalLength > available) {
    if (!options?.allowTruncated) {
      throw new DecodeError(
        "ipv4",
        "truncated",
        `total length ${totalLength} exceeds the ${available} bytes present`,
      );
    }
    truncated = true;
    payloadLength = available - headerLength;
  }
  const checksum = u16(buf, offset + 10);
  if (options?.verifyChecksum !== false && internetChecksum(buf, offset, headerLength) !== 0) {
    throw new DecodeError("ipv4", "bad-checksum", `header checksum 0x${checksum.toString(16)} is wrong`);
  }
  const fragField = u16(buf, offset + 6);
  const flags = fragField >>> 13;
  const srcInt = u32(buf, offset + 12);
  const dstInt = u32(buf, offset + 16);
  return {
    version,
    headerLength,
    tos: buf[offset + 1],
    totalLength,
    id: u16(buf, offset + 4),
    flags,
    dontFragment: (flags & FLAG_DF) !== 0,
    moreFragments: (flags & FLAG_MF) !== 0,
    fragmentOffset: fragField & 0x1fff,
    ttl: buf[offset + 8],
    protocol: buf[offset + 9],
    checksum,
    src: intToIpv4(srcInt),
    dst: intToIpv4(dstInt),
    srcInt,
    dstInt,
    options: buf.subarray(offset + HEADER_LENGTH, offset + headerLength),
    payloadOffset: offset + headerLength,
    payloadLength,
    truncated,
  };
}
