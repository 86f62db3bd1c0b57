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

export const HEADER_LENGTH = 20;
export const MAX_HEADER_LENGTH = 60;
export const FLAG_FIN = 0x01;
export const FLAG_SYN = 0x02;
export const FLAG_RST = 0x04;
export const FLAG_PSH = 0x08;
export const FLAG_ACK = 0x10;
export const FLAG_URG = 0x20;
export const FLAG_ECE = 0x40;
export const FLAG_CWR = 0x80;

export const OPTION_EOL = 0;
export const OPTION_NOP = 1;
export const OPTION_MSS = 2;
export const OPTION_WINDOW_SCALE = 3;
export const OPTION_SACK_PERMITTED = 4;
export const OPTION_TIMESTAMPS = 8;

/**
 * One TCP option. Known kinds with an unexpected length are kept as "unknown" so that decoding never
 * loses bytes and re-encoding reproduces them.
 */
export type TcpOption =
  | { kind: "eol" }
  | { kind: "nop" }
  | { kind: "mss"; value: number }
  | { kind: "window-scale"; shift: number }
  | { kind: "sack-permitted" }
  | { kind: "timestamps"; value: number; echo: number }
  | { kind: "unknown"; type: number; data: Uint8Array };

export interface TcpFlags {
  fin: boolean;
  syn: boolean;
  rst: boolean;
  psh: boolean;
  ack: boolean;
  urg: boolean;
  ece: boolean;
  cwr: boolean;
}

export interface TcpHeader extends TcpFlags {
  srcPort: number;
  dstPort: number;
  seq: number;
  /** acknowledgment number (the `ack` property is the ACK flag) */
  ackNumber: number;
  /** data offset in bytes: 20..60 */
  headerLength: number;
  /** the 4 bits between data offset and flags (bit 0 was NS, RFC 3540, now AE) */
  reserved: number;
  /** the flags byte: FLAG_FIN | FLAG_SYN | ... */
  flags: number;
  window: number;
  checksum: number;
  urgentPointer: number;
  options: TcpOption[];
  payloadOffset: number;
  payloadLength: number;
}

export interface TcpFields extends Partial<TcpFlags> {
  srcPort: number;
  dstPort: number;
  seq?: number;
  ackNumber?: number;
  reserved?: number;
  /** raw flags byte, OR-ed with the boolean flags */
  flags?: number;
  /** default 65535 */
  window?: number;
  urgentPointer?: number;
  options?: TcpOption[];
  payload?: Uint8Array;
  /** written as is when encode gets no addresses to compute it from */
  checksum?: number;
}

export interface TcpDecodeOptions {
  /** with both addresses (unsigned 32-bit) the checksum is verified, unless verifyChecksum is false */
  srcIp?: number;
  dstIp?: number;
  /** over IPv6: both 16-byte addresses, used instead of srcIp/dstIp */
  srcIp6?: Uint8Array;
  dstIp6?: Uint8Array;
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

/** Bytes the options take on the wire, padded to a multiple of 4. Throws RangeError past 40. */
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

/** Encodes options into a new Buffer, e.g. once before a scan to pass to writeSynPacket. */
export function encodeOptions(options: readonly TcpOption[]): Buffer {
  const buf = Buffer.alloc(optionsLength(options));
  writeOptions(options, buf, 0);
  return buf;
}

/**
 * Decodes the option bytes buf[offset, offset + length). Throws DecodeError "bad-option" when an option's
 * length byte is missing, below 2 or runs past the end. Unknown option data are views into buf.
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

/** Bytes `encode` writes: header, padded options and payload. */
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

export interface SynPacketOptions {
  /** unsigned 32-bit addresses */
  srcIp: number;
  dstIp: number;
  srcPort: number;
  dstPort: number;
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

/** Length of the packet writeSynPacket writes with these options: 20 + 20 + options (44 by default). */
export function synPacketLength(options?: Uint8Array): number {
  return 40 + (options ? options.length : 4);
}

/**
 * Writes a complete IPv4 + TCP SYN packet (as sent on a raw IPv4 socket with IP_HDRINCL, or after an Ethernet
 * header) into `buf` at `offset`, with both checksums, and returns its length. Allocates nothing, so a scan can
 * reuse one buffer per probe. Throws RangeError when it does not fit or a field is out of range.
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

export interface Syn6PacketOptions {
  /** 16-byte addresses */
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
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

/** Length of the packet writeSyn6Packet writes with these options: 40 + 20 + options (64 by default). */
export function syn6PacketLength(options?: Uint8Array): number {
  return 60 + (options ? options.length : 4);
}

/**
 * Writes a complete IPv6 + TCP SYN packet (no extension headers) into `buf` at `offset`, with the TCP
 * checksum over the IPv6 pseudo-header, and returns its length. Allocates nothing, like writeSynPacket.
 * Throws RangeError when it does not fit or a field is out of range.
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
