// TCP header (RFC 9293) with options, and a one-call IPv4+TCP SYN writer for scans.

import { toIpv4Int } from "../addr/address";
import {
  internetChecksum,
  type PseudoHeaderAddresses,
  transportChecksum,
  transportChecksum6,
} from "./checksum";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, u32, w16, w32 } from "./internal";
import { PROTOCOL_TCP } from "./ipv4";
import { NEXT_HEADER_TCP, writeHeader as writeIpv6Header } from "./ipv6";

/** bytes of a TCP header without options */
export const HEADER_LENGTH = 20;
/** bytes of a TCP header with the most options (40 bytes) */
export const MAX_HEADER_LENGTH = 60;
/** FIN: no more data from the sender */
export const FLAG_FIN = 0x01;
/** SYN: synchronize sequence numbers */
export const FLAG_SYN = 0x02;
/** RST: reset the connection */
export const FLAG_RST = 0x04;
/** PSH: push */
export const FLAG_PSH = 0x08;
/** ACK: the acknowledgment number is valid */
export const FLAG_ACK = 0x10;
/** URG: the urgent pointer is valid */
export const FLAG_URG = 0x20;
/** ECE: ECN echo */
export const FLAG_ECE = 0x40;
/** CWR: congestion window reduced */
export const FLAG_CWR = 0x80;

/** option kind: end of option list */
export const OPTION_EOL = 0;
/** option kind: no operation (padding) */
export const OPTION_NOP = 1;
/** option kind: maximum segment size */
export const OPTION_MSS = 2;
/** option kind: window scale */
export const OPTION_WINDOW_SCALE = 3;
/** option kind: SACK permitted */
export const OPTION_SACK_PERMITTED = 4;
/** option kind: timestamps */
export const OPTION_TIMESTAMPS = 8;

/**
 * One TCP option. Known kinds with an unexpected length are kept as "unknown" so that decoding never
 * loses bytes and re-encoding reproduces them.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * // the options Linux puts on a SYN
 * const options: packet.tcp.TcpOption[] = [
 *   { kind: "mss", value: 1460 },
 *   { kind: "sack-permitted" },
 *   { kind: "timestamps", value: 1, echo: 0 },
 *   { kind: "nop" },
 *   { kind: "window-scale", shift: 7 },
 * ];
 * ```
 */
export type TcpOption =
  | {
      /** end of option list */
      kind: "eol";
    }
  | {
      /** no operation (padding) */
      kind: "nop";
    }
  | {
      /** maximum segment size */
      kind: "mss";
      /** the MSS in bytes */
      value: number;
    }
  | {
      /** window scale */
      kind: "window-scale";
      /** the shift count */
      shift: number;
    }
  | {
      /** SACK permitted */
      kind: "sack-permitted";
    }
  | {
      /** timestamps (RFC 7323) */
      kind: "timestamps";
      /** TSval */
      value: number;
      /** TSecr */
      echo: number;
    }
  | {
      /** any other kind, or a known kind with an unexpected length */
      kind: "unknown";
      /** the option kind byte */
      type: number;
      /** the bytes after kind and length (a view into the decoded buffer) */
      data: Uint8Array;
    };

/**
 * The TCP flags, one boolean each.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const segment: Buffer;
 * const flags: packet.tcp.TcpFlags = packet.tcp.decode(segment);
 * if (flags.syn && flags.ack) console.log("SYN-ACK");
 * ```
 */
export interface TcpFlags {
  /** FIN */
  fin: boolean;
  /** SYN */
  syn: boolean;
  /** RST */
  rst: boolean;
  /** PSH */
  psh: boolean;
  /** ACK */
  ack: boolean;
  /** URG */
  urg: boolean;
  /** ECE */
  ece: boolean;
  /** CWR */
  cwr: boolean;
}

/**
 * A decoded TCP header: the flags as booleans and as the byte, the options decoded.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const { tcp } = packet.decodeFrame(frame, { linkType: "ethernet" });
 * if (tcp?.rst) console.log(`port ${tcp.srcPort} closed (RST, seq ${tcp.seq}, ack ${tcp.ackNumber})`);
 * const mss = tcp?.options.find((o) => o.kind === "mss");
 * ```
 */
export interface TcpHeader extends TcpFlags {
  /** source port */
  srcPort: number;
  /** destination port */
  dstPort: number;
  /** sequence number */
  seq: number;
  /** acknowledgment number (the `ack` property is the ACK flag) */
  ackNumber: number;
  /** data offset in bytes: 20..60 */
  headerLength: number;
  /** the 4 bits between data offset and flags (bit 0 was NS, RFC 3540, now AE) */
  reserved: number;
  /** the flags byte: FLAG_FIN | FLAG_SYN | ... */
  flags: number;
  /** receive window */
  window: number;
  /** the checksum field as received */
  checksum: number;
  /** urgent pointer */
  urgentPointer: number;
  /** the options, in order */
  options: TcpOption[];
  /** where the data starts in the buffer */
  payloadOffset: number;
  /** bytes of data */
  payloadLength: number;
}

/**
 * What encode writes into a TCP segment: ports, numbers, flags (booleans and/or the byte), options and data.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const synAck: packet.tcp.TcpFields = { srcPort: 443, dstPort: 40000, seq: 1000, ackNumber: 2, syn: true, ack: true, options: [{ kind: "mss", value: 1460 }] };
 * const segment = packet.tcp.encode(synAck, undefined, 0, { src: "198.51.100.11", dst: "198.51.100.10" });
 * ```
 */
export interface TcpFields extends Partial<TcpFlags> {
  /** source port */
  srcPort: number;
  /** destination port */
  dstPort: number;
  /** sequence number, default 0 */
  seq?: number;
  /** acknowledgment number, default 0 */
  ackNumber?: number;
  /** the 4 reserved bits, default 0 */
  reserved?: number;
  /** raw flags byte, OR-ed with the boolean flags */
  flags?: number;
  /** default 65535 */
  window?: number;
  /** default 0 */
  urgentPointer?: number;
  /** options, padded to a multiple of 4 bytes */
  options?: TcpOption[];
  /** data after the header */
  payload?: Uint8Array;
  /** written as is when encode gets no addresses to compute it from */
  checksum?: number;
}

/**
 * Options of decode: the addresses the checksum is verified over.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const datagram: Buffer; // an IPv4 datagram carrying TCP
 * const ip = packet.ipv4.decode(datagram);
 * const options: packet.tcp.TcpDecodeOptions = { srcIp: ip.srcInt, dstIp: ip.dstInt }; // the checksum is verified
 * const tcp = packet.tcp.decode(datagram, ip.payloadOffset, ip.payloadLength, options);
 * ```
 */
export interface TcpDecodeOptions {
  /** with both addresses (unsigned 32-bit) the checksum is verified, unless verifyChecksum is false */
  srcIp?: number;
  /** destination address, as srcIp */
  dstIp?: number;
  /** over IPv6: both 16-byte addresses, used instead of srcIp/dstIp */
  srcIp6?: Uint8Array;
  /** destination address over IPv6, as srcIp6 */
  dstIp6?: Uint8Array;
  /** default true when the addresses are given: a wrong checksum throws DecodeError bad-checksum */
  verifyChecksum?: boolean;
}

function optionLength(o: TcpOption): number {
  switch (o.kind) {
    case "eol":
    case "nop":
      return 1;
    case "mss":
      return 4;
    case "window-scale":
      return 3;
    case "sack-permitted":
      return 2;
    case "timestamps":
      return 10;
    case "unknown":
      return 2 + o.data.length;
  }
}

/**
 * Bytes the options take on the wire, padded to a multiple of 4. Throws RangeError past 40.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.tcp.optionsLength([{ kind: "mss", value: 1460 }, { kind: "sack-permitted" }]); // 8 (6, padded)
 * ```
 */
export function optionsLength(options: readonly TcpOption[] | undefined): number {
  if (!options) return 0;
  let n = 0;
  for (const o of options) n += optionLength(o);
  const padded = (n + 3) & ~3;
  if (padded > MAX_HEADER_LENGTH - HEADER_LENGTH)
    throw new RangeError(`tcp: options take ${n} bytes, at most 40`);
  return padded;
}

/**
 * Writes the options at `offset`, zero-padded (end-of-options) to a multiple of 4, and returns the byte count.
 * Throws RangeError for values that do not fit their fields.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const options: packet.tcp.TcpOption[] = [{ kind: "mss", value: 1400 }, { kind: "window-scale", shift: 7 }];
 * const buf = Buffer.alloc(packet.tcp.optionsLength(options));
 * packet.tcp.writeOptions(options, buf, 0);
 * ```
 */
export function writeOptions(options: readonly TcpOption[], buf: Buffer, offset: number): number {
  const total = optionsLength(options);
  encodeTarget("tcp options", buf, offset, total);
  let p = offset;
  for (const o of options) {
    switch (o.kind) {
      case "eol":
        buf[p++] = OPTION_EOL;
        break;
      case "nop":
        buf[p++] = OPTION_NOP;
        break;
      case "mss":
        buf[p] = OPTION_MSS;
        buf[p + 1] = 4;
        w16(buf, p + 2, checkUint("tcp: mss", o.value, 0xffff));
        p += 4;
        break;
      case "window-scale":
        buf[p] = OPTION_WINDOW_SCALE;
        buf[p + 1] = 3;
        buf[p + 2] = checkUint("tcp: window scale", o.shift, 0xff);
        p += 3;
        break;
      case "sack-permitted":
        buf[p] = OPTION_SACK_PERMITTED;
        buf[p + 1] = 2;
        p += 2;
        break;
      case "timestamps":
        buf[p] = OPTION_TIMESTAMPS;
        buf[p + 1] = 10;
        w32(buf, p + 2, checkUint("tcp: timestamp", o.value, 0xffffffff));
        w32(buf, p + 6, checkUint("tcp: timestamp echo", o.echo, 0xffffffff));
        p += 10;
        break;
      case "unknown":
        buf[p] = checkUint("tcp: option type", o.type, 0xff);
        buf[p + 1] = 2 + o.data.length;
        buf.set(o.data, p + 2);
        p += 2 + o.data.length;
        break;
    }
  }
  buf.fill(0, p, offset + total);
  return total;
}

/**
 * Encodes options into a new Buffer, e.g. once before a scan to pass to writeSynPacket.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const options = packet.tcp.encodeOptions([{ kind: "mss", value: 1400 }, { kind: "sack-permitted" }]);
 * const buf = Buffer.alloc(packet.tcp.synPacketLength(options));
 * ```
 */
export function encodeOptions(options: readonly TcpOption[]): Buffer {
  const buf = Buffer.alloc(optionsLength(options));
  writeOptions(options, buf, 0);
  return buf;
}

/**
 * Decodes the option bytes buf[offset, offset + length). Throws DecodeError "bad-option" when an option's
 * length byte is missing, below 2 or runs past the end. Unknown option data are views into buf.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.tcp.decodeOptions(Buffer.from([2, 4, 0x05, 0xb4, 1, 1, 4, 2])); // [{ kind: "mss", value: 1460 }, nop, nop, sack-permitted]
 * ```
 */
export function decodeOptions(buf: Buffer, offset = 0, length?: number): TcpOption[] {
  const end = decodeRange("tcp", buf, offset, length);
  const options: TcpOption[] = [];
  let p = offset;
  while (p < end) {
    const type = buf[p];
    if (type === OPTION_EOL) {
      // What follows end-of-options is padding.
      options.push({ kind: "eol" });
      break;
    }
    if (type === OPTION_NOP) {
      options.push({ kind: "nop" });
      p++;
      continue;
    }
    if (p + 2 > end)
      throw new DecodeError("tcp", "bad-option", `option ${type} at ${p - offset} has no length byte`);
    const len = buf[p + 1];
    if (len < 2 || p + len > end) {
      throw new DecodeError(
        "tcp",
        "bad-option",
        `option ${type} at ${p - offset} has impossible length ${len}`,
      );
    }
    if (type === OPTION_MSS && len === 4) options.push({ kind: "mss", value: u16(buf, p + 2) });
    else if (type === OPTION_WINDOW_SCALE && len === 3)
      options.push({ kind: "window-scale", shift: buf[p + 2] });
    else if (type === OPTION_SACK_PERMITTED && len === 2) options.push({ kind: "sack-permitted" });
    else if (type === OPTION_TIMESTAMPS && len === 10) {
      options.push({ kind: "timestamps", value: u32(buf, p + 2), echo: u32(buf, p + 6) });
    } else options.push({ kind: "unknown", type, data: buf.subarray(p + 2, p + len) });
    p += len;
  }
  return options;
}

/**
 * Bytes `encode` writes: header, padded options and payload.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const fields = { srcPort: 40000, dstPort: 80, payload: Buffer.from("GET / HTTP/1.0\r\n\r\n") };
 * const buf = Buffer.alloc(packet.ipv4.HEADER_LENGTH + packet.tcp.encodingLength(fields));
 * ```
 */
export function encodingLength(fields: TcpFields): number {
  return HEADER_LENGTH + optionsLength(fields.options) + (fields.payload?.length ?? 0);
}

function flagsOf(f: TcpFields): number {
  return (
    checkUint("tcp: flags", f.flags ?? 0, 0xff) |
    (f.fin ? FLAG_FIN : 0) |
    (f.syn ? FLAG_SYN : 0) |
    (f.rst ? FLAG_RST : 0) |
    (f.psh ? FLAG_PSH : 0) |
    (f.ack ? FLAG_ACK : 0) |
    (f.urg ? FLAG_URG : 0) |
    (f.ece ? FLAG_ECE : 0) |
    (f.cwr ? FLAG_CWR : 0)
  );
}

/**
 * Writes the TCP segment (header, options, payload) into `buf` at `offset` (a new Buffer when omitted) and
 * returns the buffer. With `ip` the checksum is computed over the IPv4 pseudo-header; without it the
 * checksum field gets fields.checksum (default 0).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const addresses = { src: "198.51.100.10", dst: "198.51.100.11" };
 * const rst = packet.tcp.encode({ srcPort: 40000, dstPort: 22, seq: 7, rst: true }, undefined, 0, addresses);
 * ```
 */
export function encode(fields: TcpFields, buf?: Buffer, offset = 0, ip?: PseudoHeaderAddresses): Buffer {
  const optLen = optionsLength(fields.options);
  const headerLength = HEADER_LENGTH + optLen;
  const length = headerLength + (fields.payload?.length ?? 0);
  const out = encodeTarget("tcp", buf, offset, length);
  w16(out, offset, checkUint("tcp: srcPort", fields.srcPort, 0xffff));
  w16(out, offset + 2, checkUint("tcp: dstPort", fields.dstPort, 0xffff));
  w32(out, offset + 4, checkUint("tcp: seq", fields.seq ?? 0, 0xffffffff));
  w32(out, offset + 8, checkUint("tcp: ackNumber", fields.ackNumber ?? 0, 0xffffffff));
  out[offset + 12] = ((headerLength >>> 2) << 4) | checkUint("tcp: reserved", fields.reserved ?? 0, 15);
  out[offset + 13] = flagsOf(fields);
  w16(out, offset + 14, checkUint("tcp: window", fields.window ?? 65535, 0xffff));
  w16(out, offset + 16, 0);
  w16(out, offset + 18, checkUint("tcp: urgentPointer", fields.urgentPointer ?? 0, 0xffff));
  if (fields.options) writeOptions(fields.options, out, offset + HEADER_LENGTH);
  if (fields.payload) out.set(fields.payload, offset + headerLength);
  const checksum = ip
    ? transportChecksum(out, offset, length, toIpv4Int(ip.src), toIpv4Int(ip.dst), PROTOCOL_TCP)
    : checkUint("tcp: checksum", fields.checksum ?? 0, 0xffff);
  w16(out, offset + 16, checksum);
  return out;
}

/**
 * Decodes the TCP segment at buf[offset, offset + length); TCP has no length field, so `length` must be the
 * IPv4 payload length. The checksum is verified when both addresses are given (and verifyChecksum is not
 * false); without them it cannot be.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const datagram: Buffer; // an IPv4 datagram from a raw socket
 * const ip = packet.ipv4.decode(datagram);
 * if (ip.protocol === packet.ipv4.PROTOCOL_TCP) {
 *   const tcp = packet.tcp.decode(datagram, ip.payloadOffset, ip.payloadLength, { srcIp: ip.srcInt, dstIp: ip.dstInt });
 *   console.log(tcp.srcPort, tcp.syn && tcp.ack ? "open" : tcp.rst ? "closed" : "?");
 * }
 * ```
 */
export function decode(buf: Buffer, offset = 0, length?: number, options?: TcpDecodeOptions): TcpHeader {
  const end = decodeRange("tcp", buf, offset, length);
  const available = end - offset;
  if (available < HEADER_LENGTH) {
    throw new DecodeError("tcp", "truncated", `header needs ${HEADER_LENGTH} bytes, have ${available}`);
  }
  const headerLength = (buf[offset + 12] >>> 4) * 4;
  if (headerLength < HEADER_LENGTH) {
    throw new DecodeError("tcp", "bad-length", `data offset ${headerLength >>> 2} is below the minimum of 5`);
  }
  if (headerLength > available) {
    throw new DecodeError(
      "tcp",
      "truncated",
      `header length ${headerLength} exceeds the ${available} bytes present`,
    );
  }
  const checksum = u16(buf, offset + 16);
  if (
    options?.verifyChecksum !== false &&
    (options?.srcIp6 !== undefined && options.dstIp6 !== undefined
      ? transportChecksum6(buf, offset, available, options.srcIp6, options.dstIp6, NEXT_HEADER_TCP) !== 0
      : options?.srcIp !== undefined &&
        options.dstIp !== undefined &&
        transportChecksum(buf, offset, available, options.srcIp, options.dstIp, PROTOCOL_TCP) !== 0)
  ) {
    throw new DecodeError("tcp", "bad-checksum", `checksum 0x${checksum.toString(16)} is wrong`);
  }
  const flags = buf[offset + 13];
  return {
    srcPort: u16(buf, offset),
    dstPort: u16(buf, offset + 2),
    seq: u32(buf, offset + 4),
    ackNumber: u32(buf, offset + 8),
    headerLength,
    reserved: buf[offset + 12] & 0x0f,
    flags,
    fin: (flags & FLAG_FIN) !== 0,
    syn: (flags & FLAG_SYN) !== 0,
    rst: (flags & FLAG_RST) !== 0,
    psh: (flags & FLAG_PSH) !== 0,
    ack: (flags & FLAG_ACK) !== 0,
    urg: (flags & FLAG_URG) !== 0,
    ece: (flags & FLAG_ECE) !== 0,
    cwr: (flags & FLAG_CWR) !== 0,
    window: u16(buf, offset + 14),
    checksum,
    urgentPointer: u16(buf, offset + 18),
    options: decodeOptions(buf, offset + HEADER_LENGTH, headerLength - HEADER_LENGTH),
    payloadOffset: offset + headerLength,
    payloadLength: available - headerLength,
  };
}

/**
 * What writeSynPacket writes: the addresses and ports of one IPv4 SYN probe, and its IP and TCP details.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const probe: packet.tcp.SynPacketOptions = {
 *   srcIp: packet.address.ipv4ToInt("198.51.100.10"),
 *   dstIp: packet.address.ipv4ToInt("198.51.100.11"),
 *   srcPort: 40000,
 *   dstPort: 443,
 *   seq: 0x1234_5678,
 *   ttl: 64,
 *   options: packet.tcp.encodeOptions([{ kind: "mss", value: 1460 }, { kind: "sack-permitted" }, { kind: "nop" }, { kind: "nop" }]),
 * };
 * ```
 */
export interface SynPacketOptions {
  /** unsigned 32-bit addresses */
  srcIp: number;
  /** destination address */
  dstIp: number;
  /** TCP source port */
  srcPort: number;
  /** TCP destination port */
  dstPort: number;
  /** sequence number (a scan puts its validation cookie here) */
  seq: number;
  /** default 64 */
  ttl?: number;
  /** IPv4 identification, default 0 */
  ipId?: number;
  /** default 1024, as nmap sends */
  window?: number;
  /** default false, as nmap sends */
  dontFragment?: boolean;
  /**
   * Pre-encoded TCP options (see encodeOptions), a multiple of 4 bytes, at most 40. Default: MSS 1460 only.
   * Pass an empty buffer for none.
   */
  options?: Uint8Array;
}

/**
 * Length of the packet writeSynPacket writes with these options: 20 + 20 + options (44 by default).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const buf = Buffer.alloc(256 * packet.tcp.synPacketLength()); // 256 probes of 44 bytes
 * ```
 */
export function synPacketLength(options?: Uint8Array): number {
  return 40 + (options ? options.length : 4);
}

/**
 * Writes a complete IPv4 + TCP SYN packet (as sent on a raw IPv4 socket with IP_HDRINCL, or after an Ethernet
 * header) into `buf` at `offset`, with both checksums, and returns its length. Allocates nothing, so a scan can
 * reuse one buffer per probe. Throws RangeError when it does not fit or a field is out of range.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const buf = Buffer.alloc(packet.tcp.synPacketLength());
 * const srcIp = packet.address.ipv4ToInt("198.51.100.10");
 * const dstIp = packet.address.ipv4ToInt("198.51.100.11");
 * for (const dstPort of [22, 80, 443]) {
 *   const n = packet.tcp.writeSynPacket(buf, 0, { srcIp, dstIp, srcPort: 40000, dstPort, seq: dstPort });
 *   // send buf.subarray(0, n) on a raw IPv4 socket (IP_HDRINCL)
 * }
 * ```
 */
export function writeSynPacket(buf: Buffer, offset: number, p: SynPacketOptions): number {
  const opts = p.options;
  const optLen = opts ? opts.length : 4;
  if ((optLen & 3) !== 0 || optLen > 40) {
    throw new RangeError(`writeSynPacket: options must be a multiple of 4 bytes, at most 40 (got ${optLen})`);
  }
  const tcpLength = HEADER_LENGTH + optLen;
  const total = 20 + tcpLength;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + total > buf.length) {
    throw new RangeError(`writeSynPacket: no room for ${total} bytes at offset ${offset}`);
  }
  const { srcIp, dstIp } = p;
  if (srcIp >>> 0 !== srcIp || dstIp >>> 0 !== dstIp) {
    throw new RangeError(`writeSynPacket: IPs must be unsigned 32-bit integers (${srcIp}, ${dstIp})`);
  }
  if (p.seq >>> 0 !== p.seq) throw new RangeError(`writeSynPacket: seq must be an unsigned 32-bit integer`);
  const ttl = p.ttl ?? 64;
  const ipId = p.ipId ?? 0;
  const window = p.window ?? 1024;
  if ((p.srcPort & 0xffff) !== p.srcPort || (p.dstPort & 0xffff) !== p.dstPort) {
    throw new RangeError(`writeSynPacket: ports must be 0..65535 (${p.srcPort}, ${p.dstPort})`);
  }
  if ((ttl & 0xff) !== ttl || (ipId & 0xffff) !== ipId || (window & 0xffff) !== window) {
    throw new RangeError(`writeSynPacket: ttl, ipId or window out of range (${ttl}, ${ipId}, ${window})`);
  }

  const o = offset;
  buf[o] = 0x45;
  buf[o + 1] = 0;
  w16(buf, o + 2, total);
  w16(buf, o + 4, ipId);
  w16(buf, o + 6, p.dontFragment ? 0x4000 : 0);
  buf[o + 8] = ttl;
  buf[o + 9] = PROTOCOL_TCP;
  w16(buf, o + 10, 0);
  w32(buf, o + 12, srcIp);
  w32(buf, o + 16, dstIp);
  w16(buf, o + 10, internetChecksum(buf, o, 20));

  const t = o + 20;
  w16(buf, t, p.srcPort);
  w16(buf, t + 2, p.dstPort);
  w32(buf, t + 4, p.seq);
  w32(buf, t + 8, 0);
  buf[t + 12] = (tcpLength >>> 2) << 4;
  buf[t + 13] = FLAG_SYN;
  w16(buf, t + 14, window);
  w16(buf, t + 16, 0);
  w16(buf, t + 18, 0);
  if (opts) {
    buf.set(opts, t + 20);
  } else {
    buf[t + 20] = OPTION_MSS;
    buf[t + 21] = 4;
    w16(buf, t + 22, 1460);
  }
  w16(buf, t + 16, transportChecksum(buf, t, tcpLength, srcIp, dstIp, PROTOCOL_TCP));
  return total;
}

/**
 * What writeSyn6Packet writes: the addresses and ports of one IPv6 SYN probe, and its IPv6 and TCP details.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const probe: packet.tcp.Syn6PacketOptions = {
 *   src: packet.ipv6Address.toIpv6Bytes("2001:db8::10"),
 *   dst: packet.ipv6Address.toIpv6Bytes("2001:db8::11"),
 *   srcPort: 40000,
 *   dstPort: 443,
 *   seq: 1,
 *   hopLimit: 64,
 * };
 * ```
 */
export interface Syn6PacketOptions {
  /** 16-byte addresses */
  src: Uint8Array;
  /** destination address */
  dst: Uint8Array;
  /** TCP source port */
  srcPort: number;
  /** TCP destination port */
  dstPort: number;
  /** sequence number */
  seq: number;
  /** default 64 */
  hopLimit?: number;
  /** default 0 */
  flowLabel?: number;
  /** default 1024, as nmap sends */
  window?: number;
  /** as for writeSynPacket; default MSS 1440 (1500 - 40 - 20), empty for none */
  options?: Uint8Array;
}

/**
 * Length of the packet writeSyn6Packet writes with these options: 40 + 20 + options (64 by default).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const buf = Buffer.alloc(packet.tcp.syn6PacketLength()); // 64 bytes
 * ```
 */
export function syn6PacketLength(options?: Uint8Array): number {
  return 60 + (options ? options.length : 4);
}

/**
 * Writes a complete IPv6 + TCP SYN packet (no extension headers) into `buf` at `offset`, with the TCP
 * checksum over the IPv6 pseudo-header, and returns its length. Allocates nothing, like writeSynPacket.
 * Throws RangeError when it does not fit or a field is out of range.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const buf = Buffer.alloc(packet.tcp.syn6PacketLength());
 * const src = packet.ipv6Address.toIpv6Bytes("2001:db8::10");
 * const dst = packet.ipv6Address.toIpv6Bytes("2001:db8::11");
 * const n = packet.tcp.writeSyn6Packet(buf, 0, { src, dst, srcPort: 40000, dstPort: 22, seq: 42 });
 * console.log(packet.decodeFrame(buf.subarray(0, n), { linkType: "ipv6" }).tcp?.syn); // true
 * ```
 */
export function writeSyn6Packet(buf: Buffer, offset: number, p: Syn6PacketOptions): number {
  const opts = p.options;
  const optLen = opts ? opts.length : 4;
  if ((optLen & 3) !== 0 || optLen > 40) {
    throw new RangeError(
      `writeSyn6Packet: options must be a multiple of 4 bytes, at most 40 (got ${optLen})`,
    );
  }
  const tcpLength = HEADER_LENGTH + optLen;
  const total = 40 + tcpLength;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + total > buf.length) {
    throw new RangeError(`writeSyn6Packet: no room for ${total} bytes at offset ${offset}`);
  }
  if (p.src.length !== 16 || p.dst.length !== 16) {
    throw new RangeError(`writeSyn6Packet: addresses must be 16 bytes (${p.src.length}, ${p.dst.length})`);
  }
  if (p.seq >>> 0 !== p.seq) throw new RangeError(`writeSyn6Packet: seq must be an unsigned 32-bit integer`);
  const hopLimit = p.hopLimit ?? 64;
  const flowLabel = p.flowLabel ?? 0;
  const window = p.window ?? 1024;
  if ((p.srcPort & 0xffff) !== p.srcPort || (p.dstPort & 0xffff) !== p.dstPort) {
    throw new RangeError(`writeSyn6Packet: ports must be 0..65535 (${p.srcPort}, ${p.dstPort})`);
  }
  if ((hopLimit & 0xff) !== hopLimit || (flowLabel & 0xfffff) !== flowLabel || (window & 0xffff) !== window) {
    throw new RangeError(
      `writeSyn6Packet: hopLimit, flowLabel or window out of range (${hopLimit}, ${flowLabel}, ${window})`,
    );
  }
  writeIpv6Header(buf, offset, tcpLength, NEXT_HEADER_TCP, hopLimit, p.src, p.dst, 0, flowLabel);
  const t = offset + 40;
  w16(buf, t, p.srcPort);
  w16(buf, t + 2, p.dstPort);
  w32(buf, t + 4, p.seq);
  w32(buf, t + 8, 0);
  buf[t + 12] = (tcpLength >>> 2) << 4;
  buf[t + 13] = FLAG_SYN;
  w16(buf, t + 14, window);
  w16(buf, t + 16, 0);
  w16(buf, t + 18, 0);
  if (opts) {
    buf.set(opts, t + 20);
  } else {
    buf[t + 20] = OPTION_MSS;
    buf[t + 21] = 4;
    w16(buf, t + 22, 1440);
  }
  w16(buf, t + 16, transportChecksum6(buf, t, tcpLength, buf, buf, NEXT_HEADER_TCP, offset + 8, offset + 24));
  return total;
}
