// UDP header (RFC 768) with the IPv4 pseudo-header checksum.

import { toIpv4Int } from "../addr/address";
import {
  internetChecksum,
  type PseudoHeaderAddresses,
  transportChecksum,
  transportChecksum6,
} from "./checksum";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, w16, w32 } from "./internal";
import { PROTOCOL_UDP } from "./ipv4";
import { NEXT_HEADER_UDP, writeHeader as writeIpv6Header } from "./ipv6";

/** bytes of a UDP header */
export const HEADER_LENGTH = 8;

/**
 * A decoded UDP header.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const { udp } = packet.decodeFrame(frame, { linkType: "ethernet", ipv6: true });
 * if (udp?.srcPort === 53) console.log("a DNS answer:", frame.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength));
 * ```
 */
export interface UdpHeader {
  /** source port */
  srcPort: number;
  /** destination port */
  dstPort: number;
  /** the length field: header + data */
  length: number;
  /** 0 means the sender computed none (allowed over IPv4) */
  checksum: number;
  /** where the data start in the buffer */
  payloadOffset: number;
  /** length - 8: bytes past the length field (padding) are not payload */
  payloadLength: number;
}

/**
 * What encode writes into a UDP datagram.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const query: packet.udp.UdpFields = { srcPort: 40000, dstPort: 53, payload: Buffer.from("...") };
 * const datagram = packet.udp.encode(query, undefined, 0, { src: "198.51.100.10", dst: "198.51.100.53" });
 * ```
 */
export interface UdpFields {
  /** source port */
  srcPort: number;
  /** destination port */
  dstPort: number;
  /** the data */
  payload?: Uint8Array;
  /** written as is when encode gets no addresses to compute it from; default 0 (none) */
  checksum?: number;
}

/**
 * Options of decode: the addresses the checksum is verified over.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const datagram: Buffer; // an IPv4 datagram carrying UDP
 * const ip = packet.ipv4.decode(datagram);
 * const udp = packet.udp.decode(datagram, ip.payloadOffset, ip.payloadLength, { srcIp: ip.srcInt, dstIp: ip.dstInt });
 * ```
 */
export interface UdpDecodeOptions {
  /** with both addresses (unsigned 32-bit) a non-zero checksum is verified, unless verifyChecksum is false */
  srcIp?: number;
  /** destination address, as srcIp */
  dstIp?: number;
  /**
   * over IPv6: both 16-byte addresses, used instead of srcIp/dstIp; a zero checksum is then wrong too
   * (RFC 8200 8.1: mandatory over IPv6)
   */
  srcIp6?: Uint8Array;
  /** destination address over IPv6, as srcIp6 */
  dstIp6?: Uint8Array;
  /** default true when the addresses are given */
  verifyChecksum?: boolean;
}

/**
 * Bytes `encode` writes: 8 plus the payload.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.udp.encodingLength({ srcPort: 1, dstPort: 2, payload: Buffer.alloc(32) }); // 40
 * ```
 */
export function encodingLength(fields: UdpFields): number {
  return HEADER_LENGTH + (fields.payload?.length ?? 0);
}

/**
 * Writes the datagram (header + payload) into `buf` at `offset` (a new Buffer when omitted) and returns the
 * buffer. With `ip` the checksum is computed over the IPv4 pseudo-header (a computed 0 is sent as 0xffff,
 * since 0 means "none"); without it the field gets fields.checksum (default 0).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const probe = packet.udp.encode({ srcPort: 40000, dstPort: 161 }, undefined, 0, { src: "198.51.100.10", dst: "198.51.100.11" });
 * ```
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
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const datagram = packet.udp.encode({ srcPort: 53, dstPort: 40000, payload: Buffer.from("answer") });
 * const udp = packet.udp.decode(datagram);
 * console.log(udp.srcPort, udp.payloadLength); // 53 6
 * ```
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
  if (options?.verifyChecksum !== false && options?.srcIp6 !== undefined && options.dstIp6 !== undefined) {
    if (
      checksum === 0 ||
      transportChecksum6(buf, offset, udpLength, options.srcIp6, options.dstIp6, NEXT_HEADER_UDP) !== 0
    ) {
      throw new DecodeError("udp", "bad-checksum", `checksum 0x${checksum.toString(16)} is wrong over IPv6`);
    }
  } else if (
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

/**
 * What writeUdp6Packet writes: the addresses and ports of one IPv6 UDP datagram, its data and IPv6 details.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const probe: packet.udp.Udp6PacketOptions = {
 *   src: packet.ipv6Address.toIpv6Bytes("2001:db8::10"),
 *   dst: packet.ipv6Address.toIpv6Bytes("2001:db8::53"),
 *   srcPort: 40000,
 *   dstPort: 53,
 *   payload: Buffer.alloc(0),
 * };
 * ```
 */
export interface Udp6PacketOptions {
  /** 16-byte addresses */
  src: Uint8Array;
  /** destination address */
  dst: Uint8Array;
  /** source port */
  srcPort: number;
  /** destination port */
  dstPort: number;
  /** default empty */
  payload?: Uint8Array;
  /** default 64 */
  hopLimit?: number;
  /** default 0 */
  flowLabel?: number;
}

/**
 * Length of the packet writeUdp6Packet writes: 40 + 8 + payload.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const buf = Buffer.alloc(packet.udp.udp6PacketLength(Buffer.alloc(12))); // 60
 * ```
 */
export function udp6PacketLength(payload?: Uint8Array): number {
  return 48 + (payload ? payload.length : 0);
}

/**
 * Writes a complete IPv6 + UDP datagram (no extension headers) into `buf` at `offset`, with the mandatory
 * checksum over the IPv6 pseudo-header (a computed 0 sent as 0xffff), and returns its length. Allocates
 * nothing. Throws RangeError when it does not fit or a field is out of range.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const buf = Buffer.alloc(packet.udp.udp6PacketLength());
 * const src = packet.ipv6Address.toIpv6Bytes("2001:db8::10");
 * const dst = packet.ipv6Address.toIpv6Bytes("2001:db8::11");
 * const n = packet.udp.writeUdp6Packet(buf, 0, { src, dst, srcPort: 40000, dstPort: 33434 });
 * ```
 */
export function writeUdp6Packet(buf: Buffer, offset: number, p: Udp6PacketOptions): number {
  const udpLength = HEADER_LENGTH + (p.payload ? p.payload.length : 0);
  const total = 40 + udpLength;
  if (udpLength > 0xffff) throw new RangeError(`writeUdp6Packet: length ${udpLength} exceeds 65535`);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + total > buf.length) {
    throw new RangeError(`writeUdp6Packet: no room for ${total} bytes at offset ${offset}`);
  }
  if (p.src.length !== 16 || p.dst.length !== 16) {
    throw new RangeError(`writeUdp6Packet: addresses must be 16 bytes (${p.src.length}, ${p.dst.length})`);
  }
  const hopLimit = p.hopLimit ?? 64;
  const flowLabel = p.flowLabel ?? 0;
  if ((p.srcPort & 0xffff) !== p.srcPort || (p.dstPort & 0xffff) !== p.dstPort) {
    throw new RangeError(`writeUdp6Packet: ports must be 0..65535 (${p.srcPort}, ${p.dstPort})`);
  }
  if ((hopLimit & 0xff) !== hopLimit || (flowLabel & 0xfffff) !== flowLabel) {
    throw new RangeError(`writeUdp6Packet: hopLimit or flowLabel out of range (${hopLimit}, ${flowLabel})`);
  }
  writeIpv6Header(buf, offset, udpLength, NEXT_HEADER_UDP, hopLimit, p.src, p.dst, 0, flowLabel);
  const u = offset + 40;
  w16(buf, u, p.srcPort);
  w16(buf, u + 2, p.dstPort);
  w16(buf, u + 4, udpLength);
  w16(buf, u + 6, 0);
  if (p.payload) buf.set(p.payload, u + HEADER_LENGTH);
  const sum = transportChecksum6(buf, u, udpLength, buf, buf, NEXT_HEADER_UDP, offset + 8, offset + 24);
  w16(buf, u + 6, sum === 0 ? 0xffff : sum);
  return total;
}

/**
 * What writeUdp4Packet writes: the addresses and ports of one IPv4 UDP datagram, its data and IP details.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const probe: packet.udp.Udp4PacketOptions = {
 *   srcIp: packet.address.ipv4ToInt("198.51.100.10"),
 *   dstIp: packet.address.ipv4ToInt("198.51.100.11"),
 *   srcPort: 40000,
 *   dstPort: 161,
 *   ttl: 64,
 * };
 * ```
 */
export interface Udp4PacketOptions {
  /** unsigned 32-bit addresses */
  srcIp: number;
  /** destination address */
  dstIp: number;
  /** source port */
  srcPort: number;
  /** destination port */
  dstPort: number;
  /** default empty */
  payload?: Uint8Array;
  /** default 64 */
  ttl?: number;
  /** default 0 */
  ipId?: number;
}

/**
 * Length of the packet writeUdp4Packet writes: 20 + 8 + payload.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const buf = Buffer.alloc(packet.udp.udp4PacketLength()); // 28
 * ```
 */
export function udp4PacketLength(payload?: Uint8Array): number {
  return 28 + (payload ? payload.length : 0);
}

/**
 * Writes a complete IPv4 + UDP datagram (as sent on a raw IPv4 socket with IP_HDRINCL, or after an Ethernet
 * header) into `buf` at `offset`, with both checksums (a computed 0 sent as 0xffff), and returns its length.
 * Allocates nothing. Throws RangeError when it does not fit or a field is out of range.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const buf = Buffer.alloc(packet.udp.udp4PacketLength());
 * const srcIp = packet.address.ipv4ToInt("198.51.100.10");
 * const dstIp = packet.address.ipv4ToInt("198.51.100.11");
 * for (const dstPort of [53, 123, 161]) {
 *   const n = packet.udp.writeUdp4Packet(buf, 0, { srcIp, dstIp, srcPort: 40000, dstPort });
 *   // send buf.subarray(0, n) on a raw IPv4 socket (IP_HDRINCL)
 * }
 * ```
 */
export function writeUdp4Packet(buf: Buffer, offset: number, p: Udp4PacketOptions): number {
  const udpLength = HEADER_LENGTH + (p.payload ? p.payload.length : 0);
  const total = 20 + udpLength;
  if (total > 0xffff) throw new RangeError(`writeUdp4Packet: length ${total} exceeds 65535`);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + total > buf.length) {
    throw new RangeError(`writeUdp4Packet: no room for ${total} bytes at offset ${offset}`);
  }
  const { srcIp, dstIp } = p;
  if (srcIp >>> 0 !== srcIp || dstIp >>> 0 !== dstIp) {
    throw new RangeError(`writeUdp4Packet: IPs must be unsigned 32-bit integers (${srcIp}, ${dstIp})`);
  }
  const ttl = p.ttl ?? 64;
  const ipId = p.ipId ?? 0;
  if ((p.srcPort & 0xffff) !== p.srcPort || (p.dstPort & 0xffff) !== p.dstPort) {
    throw new RangeError(`writeUdp4Packet: ports must be 0..65535 (${p.srcPort}, ${p.dstPort})`);
  }
  if ((ttl & 0xff) !== ttl || (ipId & 0xffff) !== ipId) {
    throw new RangeError(`writeUdp4Packet: ttl or ipId out of range (${ttl}, ${ipId})`);
  }
  const o = offset;
  buf[o] = 0x45;
  buf[o + 1] = 0;
  w16(buf, o + 2, total);
  w16(buf, o + 4, ipId);
  w16(buf, o + 6, 0);
  buf[o + 8] = ttl;
  buf[o + 9] = PROTOCOL_UDP;
  w16(buf, o + 10, 0);
  w32(buf, o + 12, srcIp);
  w32(buf, o + 16, dstIp);
  w16(buf, o + 10, internetChecksum(buf, o, 20));
  const u = o + 20;
  w16(buf, u, p.srcPort);
  w16(buf, u + 2, p.dstPort);
  w16(buf, u + 4, udpLength);
  w16(buf, u + 6, 0);
  if (p.payload) buf.set(p.payload, u + HEADER_LENGTH);
  const sum = transportChecksum(buf, u, udpLength, srcIp, dstIp, PROTOCOL_UDP);
  w16(buf, u + 6, sum === 0 ? 0xffff : sum);
  return total;
}
