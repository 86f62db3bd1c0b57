// ICMPv6 (RFC 4443): echo, and the errors a prober ties back to its probes (destination unreachable, packet
// too big, time exceeded, parameter problem) with the quoted original packet decoded far enough to match it.
// The checksum covers the IPv6 pseudo-header, so it is computed and verified only with both addresses.
// Neighbour discovery messages (types 133..137) decode here as "other"; ndp.ts decodes them.

import { toIpv6Bytes } from "../addr/ipv6";
import { transportChecksum6 } from "./checksum";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, u32, w16, w32 } from "./internal";
import * as ipv6 from "./ipv6";
import { type QuotedTransport, quotedTransport } from "./quote";

export const HEADER_LENGTH = 8;
export const TYPE_DEST_UNREACHABLE = 1;
export const TYPE_PACKET_TOO_BIG = 2;
export const TYPE_TIME_EXCEEDED = 3;
export const TYPE_PARAMETER_PROBLEM = 4;
export const TYPE_ECHO_REQUEST = 128;
export const TYPE_ECHO_REPLY = 129;
export const TYPE_NEIGHBOR_SOLICITATION = 135;
export const TYPE_NEIGHBOR_ADVERTISEMENT = 136;

/** Destination unreachable codes (RFC 4443 3.1, RFC 6550 for 7). */
export const UNREACH_CODES = {
  "no-route": 0,
  "admin-prohibited": 1,
  "beyond-scope": 2,
  "address-unreachable": 3,
  "port-unreachable": 4,
  "source-policy-failed": 5,
  "reject-route": 6,
  "source-routing-error": 7,
} as const;
export type UnreachCodeName = keyof typeof UNREACH_CODES;

/** Time exceeded codes (RFC 4443 3.3). */
export const TIME_EXCEEDED_CODES = {
  "hop-limit-exceeded": 0,
  "reassembly-timeout": 1,
} as const;
export type TimeExceededCodeName = keyof typeof TIME_EXCEEDED_CODES;

function namesByCode(codes: Readonly<Record<string, number>>): readonly string[] {
  const names: string[] = [];
  for (const [name, code] of Object.entries(codes)) names[code] = name;
  return names;
}
const UNREACH_NAMES = namesByCode(UNREACH_CODES);
const TIME_EXCEEDED_NAMES = namesByCode(TIME_EXCEEDED_CODES);

/** Name of a destination unreachable code, "code-N" for unassigned ones. */
export function unreachCodeName(code: number): string {
  return UNREACH_NAMES[code] ?? `code-${code}`;
}

/** Name of a time exceeded code, "code-N" for unassigned ones. */
export function timeExceededCodeName(code: number): string {
  return TIME_EXCEEDED_NAMES[code] ?? `code-${code}`;
}

/** IPv6 addresses for the pseudo-header: text or 16 bytes. */
export interface Ipv6PseudoHeader {
  src: string | Uint8Array;
  dst: string | Uint8Array;
}

/** The original packet an ICMPv6 error quotes, decoded as far as probe matching needs. */
export interface QuotedPacket extends QuotedTransport {
  /** decoded with allowTruncated (the quote is cut to fit 1280 bytes) */
  ipv6: ipv6.Ipv6Header;
}

interface Icmpv6Common {
  type: number;
  code: number;
  checksum: number;
  /** the data after the 8-byte header: echo data, or the quoted packet of an error */
  payloadOffset: number;
  payloadLength: number;
}

export interface Icmpv6Echo extends Icmpv6Common {
  kind: "echo-request" | "echo-reply";
  id: number;
  seq: number;
}

export interface Icmpv6DestUnreachable extends Icmpv6Common {
  kind: "destination-unreachable";
  codeName: string;
  original: QuotedPacket;
}

export interface Icmpv6PacketTooBig extends Icmpv6Common {
  kind: "packet-too-big";
  mtu: number;
  original: QuotedPacket;
}

export interface Icmpv6TimeExceeded extends Icmpv6Common {
  kind: "time-exceeded";
  codeName: string;
  original: QuotedPacket;
}

export interface Icmpv6ParameterProblem extends Icmpv6Common {
  kind: "parameter-problem";
  /** offset of the offending byte in the original packet */
  pointer: number;
  original: QuotedPacket;
}

export interface Icmpv6Other extends Icmpv6Common {
  kind: "other";
  /** bytes 4..7 of the header, whose meaning depends on the type */
  rest: number;
}

export type Icmpv6Packet =
  | Icmpv6Echo
  | Icmpv6DestUnreachable
  | Icmpv6PacketTooBig
  | Icmpv6TimeExceeded
  | Icmpv6ParameterProblem
  | Icmpv6Other;

export type Icmpv6Fields =
  | { kind: "echo-request" | "echo-reply"; code?: number; id: number; seq: number; payload?: Uint8Array }
  | { kind: "destination-unreachable"; code: number | UnreachCodeName; payload?: Uint8Array }
  | { kind: "packet-too-big"; mtu: number; payload?: Uint8Array }
  | { kind: "time-exceeded"; code: number | TimeExceededCodeName; payload?: Uint8Array }
  | { kind: "parameter-problem"; code: number; pointer: number; payload?: Uint8Array }
  | { kind: "other"; type: number; code: number; rest?: number; payload?: Uint8Array };

export interface Icmpv6DecodeOptions {
  /** with both addresses (16 bytes each) the checksum is verified, unless verifyChecksum is false */
  src?: Uint8Array;
  dst?: Uint8Array;
  verifyChecksum?: boolean;
}

/** Bytes `encode` writes: 8 plus the payload. */
export function encodingLength(fields: Icmpv6Fields): number {
  return HEADER_LENGTH + (fields.payload?.length ?? 0);
}

function codeNumber(code: number | string, names: Readonly<Record<string, number>>): number {
  if (typeof code === "number") return checkUint("icmpv6: code", code, 0xff);
  const n = names[code];
  if (n === undefined) throw new RangeError(`icmpv6: unknown code name "${code}"`);
  return n;
}

/**
 * Writes the message (header + payload) into `buf` at `offset` (a new Buffer when omitted) and returns the
 * buffer. With `ip` the checksum is computed over the IPv6 pseudo-header; without it the field is 0 (the
 * kernel fills it in on an ICMPv6 raw socket). For errors, `payload` is the quoted original packet.
 */
export function encode(fields: Icmpv6Fields, buf?: Buffer, offset = 0, ip?: Ipv6PseudoHeader): Buffer {
  const length = encodingLength(fields);
  const out = encodeTarget("icmpv6", buf, offset, length);
  let type: number;
  let code = 0;
  let rest = 0;
  switch (fields.kind) {
    case "echo-request":
    case "echo-reply":
      type = fields.kind === "echo-request" ? TYPE_ECHO_REQUEST : TYPE_ECHO_REPLY;
      code = checkUint("icmpv6: code", fields.code ?? 0, 0xff);
      rest =
        checkUint("icmpv6: id", fields.id, 0xffff) * 0x10000 + checkUint("icmpv6: seq", fields.seq, 0xffff);
      break;
    case "destination-unreachable":
      type = TYPE_DEST_UNREACHABLE;
      code = codeNumber(fields.code, UNREACH_CODES);
      break;
    case "packet-too-big":
      type = TYPE_PACKET_TOO_BIG;
      rest = checkUint("icmpv6: mtu", fields.mtu, 0xffffffff);
      break;
    case "time-exceeded":
      type = TYPE_TIME_EXCEEDED;
      code = codeNumber(fields.code, TIME_EXCEEDED_CODES);
      break;
    case "parameter-problem":
      type = TYPE_PARAMETER_PROBLEM;
      code = checkUint("icmpv6: code", fields.code, 0xff);
      rest = checkUint("icmpv6: pointer", fields.pointer, 0xffffffff);
      break;
    default:
      type = checkUint("icmpv6: type", fields.type, 0xff);
      code = checkUint("icmpv6: code", fields.code, 0xff);
      rest = checkUint("icmpv6: rest", fields.rest ?? 0, 0xffffffff);
  }
  out[offset] = type;
  out[offset + 1] = code;
  w16(out, offset + 2, 0);
  w32(out, offset + 4, rest);
  if (fields.payload) out.set(fields.payload, offset + HEADER_LENGTH);
  if (ip) {
    const src = toIpv6Bytes(ip.src);
    const dst = toIpv6Bytes(ip.dst);
    w16(out, offset + 2, transportChecksum6(out, offset, length, src, dst, ipv6.NEXT_HEADER_ICMPV6));
  }
  return out;
}

function decodeQuoted(buf: Buffer, offset: number, end: number): QuotedPacket {
  let ip: ipv6.Ipv6Header;
  try {
    ip = ipv6.decode(buf, offset, end - offset, { allowTruncated: true });
  } catch (err) {
    if (err instanceof DecodeError) {
      throw new DecodeError("icmpv6", err.code, `quoted packet: ${err.message}`, { cause: err });
    }
    throw err;
  }
  return {
    ipv6: ip,
    ...quotedTransport(buf, ip.upperOffset, ip.upperLength, ip.protocol, 6, ip.fragmentOffset === 0),
  };
}

/**
 * Decodes the ICMPv6 message at buf[offset, offset + length) (the whole upper-layer payload: the checksum
 * covers it all). An error message must quote at least a complete IPv6 fixed header, else DecodeError
 * (layer "icmpv6"). For destination unreachable and time exceeded an RFC 4884 length (byte 4, in 64-bit
 * words), when it fits, bounds the quote.
 */
export function decode(
  buf: Buffer,
  offset = 0,
  length?: number,
  options?: Icmpv6DecodeOptions,
): Icmpv6Packet {
  const end = decodeRange("icmpv6", buf, offset, length);
  if (end - offset < HEADER_LENGTH) {
    throw new DecodeError("icmpv6", "truncated", `header needs ${HEADER_LENGTH} bytes, have ${end - offset}`);
  }
  const checksum = u16(buf, offset + 2);
  if (
    options?.verifyChecksum !== false &&
    options?.src !== undefined &&
    options.dst !== undefined &&
    transportChecksum6(buf, offset, end - offset, options.src, options.dst, ipv6.NEXT_HEADER_ICMPV6) !== 0
  ) {
    throw new DecodeError("icmpv6", "bad-checksum", `checksum 0x${checksum.toString(16)} is wrong`);
  }
  const type = buf[offset];
  const code = buf[offset + 1];
  const payloadOffset = offset + HEADER_LENGTH;
  const payloadLength = end - payloadOffset;
  const common = { type, code, checksum, payloadOffset, payloadLength };
  switch (type) {
    case TYPE_ECHO_REQUEST:
    case TYPE_ECHO_REPLY:
      return {
        kind: type === TYPE_ECHO_REQUEST ? "echo-request" : "echo-reply",
        ...common,
        id: u16(buf, offset + 4),
        seq: u16(buf, offset + 6),
      };
    case TYPE_DEST_UNREACHABLE:
    case TYPE_TIME_EXCEEDED: {
      const words = buf[offset + 4];
      const quoteEnd = words !== 0 && words * 8 <= payloadLength ? payloadOffset + words * 8 : end;
      const original = decodeQuoted(buf, payloadOffset, quoteEnd);
      if (type === TYPE_TIME_EXCEEDED) {
        return { kind: "time-exceeded", ...common, codeName: timeExceededCodeName(code), original };
      }
      return { kind: "destination-unreachable", ...common, codeName: unreachCodeName(code), original };
    }
    case TYPE_PACKET_TOO_BIG:
      return {
        kind: "packet-too-big",
        ...common,
        mtu: u32(buf, offset + 4),
        original: decodeQuoted(buf, payloadOffset, end),
      };
    case TYPE_PARAMETER_PROBLEM:
      return {
        kind: "parameter-problem",
        ...common,
        pointer: u32(buf, offset + 4),
        original: decodeQuoted(buf, payloadOffset, end),
      };
    default:
      return { kind: "other", ...common, rest: u32(buf, offset + 4) };
  }
}
