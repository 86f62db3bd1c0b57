// IPv4 header (RFC 791). Options are carried as raw bytes: probes never need to interpret them.

import { intToIpv4, toIpv4Int } from "../addr/address";
import { internetChecksum } from "./checksum";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, u32, w16, w32 } from "./internal";

export const HEADER_LENGTH = 20;
export const MAX_HEADER_LENGTH = 60;
export const PROTOCOL_ICMP = 1;
export const PROTOCOL_TCP = 6;
export const PROTOCOL_UDP = 17;
/** values of the 3-bit flags field */
export const FLAG_RESERVED = 0x4;
export const FLAG_DF = 0x2;
export const FLAG_MF = 0x1;

export interface Ipv4Header {
  version: number;
  /** header length in bytes (IHL * 4): 20..60 */
  headerLength: number;
  /** the whole TOS byte: DSCP << 2 | ECN */
  tos: number;
  totalLength: number;
  id: number;
  /** 3-bit flags field: FLAG_RESERVED | FLAG_DF | FLAG_MF */
  flags: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** in 8-byte units, as on the wire */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: string;
  dst: string;
  /** src and dst as unsigned 32-bit numbers (pseudo-header sums, probe matching) */
  srcInt: number;
  dstInt: number;
  /** raw option bytes (a view into the decoded buffer), empty when IHL is 5 */
  options: Buffer;
  payloadOffset: number;
  /** total length minus header length, or what is left of it when `truncated` */
  payloadLength: number;
  /** true only with allowTruncated, when fewer bytes are present than the total length says */
  truncated: boolean;
}

export interface Ipv4Fields {
  tos?: number;
  id?: number;
  /** raw 3-bit flags; OR-ed with dontFragment / moreFragments */
  flags?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** in 8-byte units */
  fragmentOffset?: number;
  /** default 64 */
  ttl?: number;
  protocol: number;
  src: string | number;
  dst: string | number;
  /** raw option bytes; zero-padded (end-of-options) to a multiple of 4, at most 40 */
  options?: Uint8Array;
  /** bytes after the header, for the total length field; default 0 */
  payloadLength?: number;
}

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

/** Header bytes `encode` writes: 20 plus the options padded to a multiple of 4. */
export function encodingLength(fields: Ipv4Fields): number {
  return HEADER_LENGTH + optionsLength(fields.options);
}

/**
 * Writes the IPv4 header (not the payload) with a freshly computed checksum into `buf` at `offset` (a new
 * Buffer when omitted) and returns the buffer. Throws RangeError/TypeError for out-of-range fields.
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
