// UDP header (RFC 768) with the IPv4 pseudo-header checksum.

import { toIpv4Int } from "../addr/address";
import { type PseudoHeaderAddresses, transportChecksum } from "./checksum";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, w16 } from "./internal";
import { PROTOCOL_UDP } from "./ipv4";

export const HEADER_LENGTH = 8;

export interface UdpHeader {
  srcPort: number;
  dstPort: number;
  /** the length field: header + data */
  length: number;
  /** 0 means the sender computed none (allowed over IPv4) */
  checksum: number;
  payloadOffset: number;
  /** length - 8: bytes past the length field (padding) are not payload */
  payloadLength: number;
}

export interface UdpFields {
  srcPort: number;
  dstPort: number;
  payload?: Uint8Array;
  /** written as is when encode gets no addresses to compute it from; default 0 (none) */
  checksum?: number;
}

export interface UdpDecodeOptions {
  /** with both addresses (unsigned 32-bit) a non-zero checksum is verified, unless verifyChecksum is false */
  srcIp?: number;
  dstIp?: number;
  verifyChecksum?: boolean;
}

/** Bytes `encode` writes: 8 plus the payload. */
export function encodingLength(fields: UdpFields): number {
  return HEADER_LENGTH + (fields.payload?.length ?? 0);
}

/**
 * Writes the datagram (header + payload) into `buf` at `offset` (a new Buffer when omitted) and returns the
 * buffer. With `ip` the checksum is computed over the IPv4 pseudo-header (a computed 0 is sent as 0xffff,
 * since 0 means "none"); without it the field gets fields.checksum (default 0).
 */
export function encode(fields: UdpFields, buf?: Buffer, offset = 0, ip?: PseudoHeaderAddresses): Buffer {
  const length = encodingLength(fields);
  if (length > 0xffff) throw new RangeError(`udp: length ${length} exceeds 65535`);
  const out = encodeTarget("udp", buf, offset, length);
  w16(out, offset, checkUint("udp: srcPort", fields.srcPort, 0xffff));
  w16(out, offset + 2, checkUint("udp: dstPort", fields.dstPort, 0xffff));
  w16(out, offset + 4, length);
  w16(out, offset + 6, 0);
  if (fields.payload) out.set(fields.payload, offset + HEADER_LENGTH);
  let checksum: number;
  if (ip) {
    checksum = transportChecksum(out, offset, length, toIpv4Int(ip.src), toIpv4Int(ip.dst), PROTOCOL_UDP);
    if (checksum === 0) checksum = 0xffff;
  } else {
    checksum = checkUint("udp: checksum", fields.checksum ?? 0, 0xffff);
  }
  w16(out, offset + 6, checksum);
  return out;
}

/**
 * Decodes the datagram at buf[offset, offset + length) (the IPv4 payload). Validates 8 <= length field <=
 * bytes present. Verifies a non-zero checksum when both addresses are given and verifyChecksum is not false.
 */
export function decode(buf: Buffer, offset = 0, length?: number, options?: UdpDecodeOptions): UdpHeader {
  const end = decodeRange("udp", buf, offset, length);
  const available = end - offset;
  if (available < HEADER_LENGTH) {
    throw new DecodeError("udp", "truncated", `header needs ${HEADER_LENGTH} bytes, have ${available}`);
  }
  const udpLength = u16(buf, offset + 4);
  if (udpLength < HEADER_LENGTH) {
    throw new DecodeError("udp", "bad-length", `length field ${udpLength} is below the header length 8`);
  }
  if (udpLength > available) {
    throw new DecodeError(
      "udp",
      "truncated",
      `length field ${udpLength} exceeds the ${available} bytes present`,
    );
  }
  const checksum = u16(buf, offset + 6);
  if (
    checksum !== 0 &&
    options?.verifyChecksum !== false &&
    options?.srcIp !== undefined &&
    options.dstIp !== undefined &&
    transportChecksum(buf, offset, udpLength, options.srcIp, options.dstIp, PROTOCOL_UDP) !== 0
  ) {
    throw new DecodeError("udp", "bad-checksum", `checksum 0x${checksum.toString(16)} is wrong`);
  }
  return {
    srcPort: u16(buf, offset),
    dstPort: u16(buf, offset + 2),
    length: udpLength,
    checksum,
    payloadOffset: offset + HEADER_LENGTH,
    payloadLength: udpLength - HEADER_LENGTH,
  };
}
