// ICMPv4 (RFC 792): echo, and the two errors a prober must tie back to its probes, destination unreachable
// and time exceeded, with the quoted original datagram decoded far enough to match it.

import { internetChecksum } from "./checksum";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, u32, w16, w32 } from "./internal";
import * as ipv4 from "./ipv4";
import { type QuotedTransport, quotedTransport } from "./quote";

export const HEADER_LENGTH = 8;
export const TYPE_ECHO_REPLY = 0;
export const TYPE_DEST_UNREACHABLE = 3;
export const TYPE_ECHO_REQUEST = 8;
export const TYPE_TIME_EXCEEDED = 11;

/** Destination unreachable codes (RFC 792, RFC 1122, RFC 1812). */
export const UNREACH_CODES = {
  "net-unreach": 0,
  "host-unreach": 1,
  "proto-unreach": 2,
  "port-unreach": 3,
  "frag-needed": 4,
  "source-route-failed": 5,
  "net-unknown": 6,
  "host-unknown": 7,
  "host-isolated": 8,
  "net-prohibited": 9,
  "host-prohibited": 10,
  "net-tos-unreach": 11,
  "host-tos-unreach": 12,
  "admin-prohibited": 13,
  "host-precedence-violation": 14,
  "precedence-cutoff": 15,
} as const;
export type UnreachCodeName = keyof typeof UNREACH_CODES;

/** Time exceeded codes. */
export const TIME_EXCEEDED_CODES = {
  "ttl-exceeded": 0,
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

/** The original datagram an ICMP error quotes, decoded as far as probe matching needs. */
export interface QuotedDatagram extends QuotedTransport {
  /** decoded without checksum verification (NATs rewrite quoted headers) and with allowTruncated */
  ipv4: ipv4.Ipv4Header;
  /** the quoted transport bytes present (normally 8; RFC 1812 routers quote more) */
  transportOffset: number;
  transportLength: number;
}

interface IcmpCommon {
  type: number;
  code: number;
  checksum: number;
  /** the data after the 8-byte header: echo data, or the quoted datagram of an error */
  payloadOffset: number;
  payloadLength: number;
}

export interface IcmpEcho extends IcmpCommon {
  kind: "echo-request" | "echo-reply";
  id: number;
  seq: number;
}

export interface IcmpDestUnreachable extends IcmpCommon {
  kind: "destination-unreachable";
  codeName: string;
  /** next-hop MTU for frag-needed (RFC 1191), 0 when the router did not say */
  mtu: number;
  original: QuotedDatagram;
}

export interface IcmpTimeExceeded extends IcmpCommon {
  kind: "time-exceeded";
  codeName: string;
  original: QuotedDatagram;
}

export interface IcmpOther extends IcmpCommon {
  kind: "other";
  /** bytes 4..7 of the header, whose meaning depends on the type */
  rest: number;
}

export type IcmpPacket = IcmpEcho | IcmpDestUnreachable | IcmpTimeExceeded | IcmpOther;

export type IcmpFields =
  | { kind: "echo-request" | "echo-reply"; code?: number; id: number; seq: number; payload?: Uint8Array }
  | { kind: "destination-unreachable"; code: number | UnreachCodeName; mtu?: number; payload?: Uint8Array }
  | { kind: "time-exceeded"; code: number | TimeExceededCodeName; payload?: Uint8Array }
  | { kind: "other"; type: number; code: number; rest?: number; payload?: Uint8Array };

export interface IcmpDecodeOptions {
  /** default true: a wrong checksum throws DecodeError "bad-checksum" */
  verifyChecksum?: boolean;
}

/** Bytes `encode` writes: 8 plus the payload. */
export function encodingLength(fields: IcmpFields): number {
  return HEADER_LENGTH + (fields.payload?.length ?? 0);
}

function codeNumber(code: number | string, names: Readonly<Record<string, number>>): number {
  if (typeof code === "number") return checkUint("icmp: code", code, 0xff);
  const n = names[code];
  if (n === undefined) throw new RangeError(`icmp: unknown code name "${code}"`);
  return n;
}

/**
 * Writes the ICMP message (header + payload) with a computed checksum into `buf` at `offset` (a new Buffer
 * when omitted) and returns the buffer. For errors, `payload` is the quoted original datagram.
 */
export function encode(fields: IcmpFields, buf?: Buffer, offset = 0): Buffer {
  const length = encodingLength(fields);
  const out = encodeTarget("icmp", buf, offset, length);
  let type: number;
  let code: number;
  let rest: number;
  switch (fields.kind) {
    case "echo-request":
    case "echo-reply":
      type = fields.kind === "echo-request" ? TYPE_ECHO_REQUEST : TYPE_ECHO_REPLY;
      code = checkUint("icmp: code", fields.code ?? 0, 0xff);
      rest = checkUint("icmp: id", fields.id, 0xffff) * 0x10000 + checkUint("icmp: seq", fields.seq, 0xffff);
      break;
    case "destination-unreachable":
      type = TYPE_DEST_UNREACHABLE;
      code = codeNumber(fields.code, UNREACH_CODES);
      rest = checkUint("icmp: mtu", fields.mtu ?? 0, 0xffff);
      break;
    case "time-exceeded":
      type = TYPE_TIME_EXCEEDED;
      code = codeNumber(fields.code, TIME_EXCEEDED_CODES);
      rest = 0;
      break;
    default:
      type = checkUint("icmp: type", fields.type, 0xff);
      code = checkUint("icmp: code", fields.code, 0xff);
      rest = checkUint("icmp: rest", fields.rest ?? 0, 0xffffffff);
  }
  out[offset] = type;
  out[offset + 1] = code;
  w16(out, offset + 2, 0);
  w32(out, offset + 4, rest);
  if (fields.payload) out.set(fields.payload, offset + HEADER_LENGTH);
  w16(out, offset + 2, internetChecksum(out, offset, length));
  return out;
}

function decodeQuoted(buf: Buffer, offset: number, end: number): QuotedDatagram {
  let ip: ipv4.Ipv4Header;
  try {
    ip = ipv4.decode(buf, offset, end - offset, { verifyChecksum: false, allowTruncated: true });
  } catch (err) {
    if (err instanceof DecodeError) {
      throw new DecodeError("icmp", err.code, `quoted datagram: ${err.message}`, { cause: err });
    }
    throw err;
  }
  const t = ip.payloadOffset;
  const tLen = ip.payloadLength;
  return {
    ipv4: ip,
    ...quotedTransport(buf, t, tLen, ip.protocol, 4, ip.fragmentOffset === 0),
    transportOffset: t,
    transportLength: tLen,
  };
}

/**
 * Decodes the ICMP message at buf[offset, offset + length) (the whole IPv4 payload: the checksum covers it
 * all). For destination unreachable and time exceeded, the quoted datagram must hold at least a complete
 * IPv4 header, else DecodeError (layer "icmp"). An RFC 4884 length field, when it fits, bounds the quote.
 */
export function decode(buf: Buffer, offset = 0, length?: number, options?: IcmpDecodeOptions): IcmpPacket {
  const end = decodeRange("icmp", buf, offset, length);
  if (end - offset < HEADER_LENGTH) {
    throw new DecodeError("icmp", "truncated", `header needs ${HEADER_LENGTH} bytes, have ${end - offset}`);
  }
  const checksum = u16(buf, offset + 2);
  if (options?.verifyChecksum !== false && internetChecksum(buf, offset, end - offset) !== 0) {
    throw new DecodeError("icmp", "bad-checksum", `checksum 0x${checksum.toString(16)} is wrong`);
  }
  const type = buf[offset];
  const code = buf[offset + 1];
  const payloadOffset = offset + HEADER_LENGTH;
  const payloadLength = end - payloadOffset;
  switch (type) {
    case TYPE_ECHO_REQUEST:
    case TYPE_ECHO_REPLY:
      return {
        kind: type === TYPE_ECHO_REQUEST ? "echo-request" : "echo-reply",
        type,
        code,
        checksum,
        id: u16(buf, offset + 4),
        seq: u16(buf, offset + 6),
        payloadOffset,
        payloadLength,
      };
    case TYPE_DEST_UNREACHABLE:
    case TYPE_TIME_EXCEEDED: {
      // RFC 4884: byte 5 gives the quoted datagram's length in 32-bit words when extensions follow it.
      const words = buf[offset + 5];
      const quoteEnd = words !== 0 && words * 4 <= payloadLength ? payloadOffset + words * 4 : end;
      const original = decodeQuoted(buf, payloadOffset, quoteEnd);
      if (type === TYPE_TIME_EXCEEDED) {
        return {
          kind: "time-exceeded",
          type,
          code,
          checksum,
          codeName: timeExceededCodeName(code),
          original,
          payloadOffset,
          payloadLength,
        };
      }
      return {
        kind: "destination-unreachable",
        type,
        code,
        checksum,
        codeName: unreachCodeName(code),
        mtu: code === UNREACH_CODES["frag-needed"] ? u16(buf, offset + 6) : 0,
        original,
        payloadOffset,
        payloadLength,
      };
    }
    default:
      return {
        kind: "other",
        type,
        code,
        checksum,
        rest: u32(buf, offset + 4),
        payloadOffset,
        payloadLength,
      };
  }
}
