// ICMPv4 (RFC 792): echo, and the two errors a prober must tie back to its probes, destination unreachable
// and time exceeded, with the quoted original datagram decoded far enough to match it.

import { internetChecksum } from "./checksum";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, u32, w16, w32 } from "./internal";
import * as ipv4 from "./ipv4";
import { type QuotedTransport, quotedTransport } from "./quote";

/** bytes of an ICMP header */
export const HEADER_LENGTH = 8;
/** type of an echo reply */
export const TYPE_ECHO_REPLY = 0;
/** type of a destination unreachable error */
export const TYPE_DEST_UNREACHABLE = 3;
/** type of an echo request */
export const TYPE_ECHO_REQUEST = 8;
/** type of a time exceeded error */
export const TYPE_TIME_EXCEEDED = 11;

/**
 * Destination unreachable codes (RFC 792, RFC 1122, RFC 1812).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const portUnreachable = packet.icmp.encode({ kind: "destination-unreachable", code: packet.icmp.UNREACH_CODES["port-unreach"] });
 * ```
 */
export const UNREACH_CODES = {
  /** network unreachable */
  "net-unreach": 0,
  /** host unreachable */
  "host-unreach": 1,
  /** protocol unreachable */
  "proto-unreach": 2,
  /** port unreachable (the host has no listener: UDP closed) */
  "port-unreach": 3,
  /** fragmentation needed and DF set (see `mtu`) */
  "frag-needed": 4,
  /** source route failed */
  "source-route-failed": 5,
  /** destination network unknown */
  "net-unknown": 6,
  /** destination host unknown */
  "host-unknown": 7,
  /** source host isolated */
  "host-isolated": 8,
  /** network administratively prohibited */
  "net-prohibited": 9,
  /** host administratively prohibited */
  "host-prohibited": 10,
  /** network unreachable for the type of service */
  "net-tos-unreach": 11,
  /** host unreachable for the type of service */
  "host-tos-unreach": 12,
  /** communication administratively prohibited (a firewall's reject) */
  "admin-prohibited": 13,
  /** host precedence violation */
  "host-precedence-violation": 14,
  /** precedence cutoff in effect */
  "precedence-cutoff": 15,
} as const;
/** The name of a destination unreachable code, as nmap and the records give it ("port-unreach", ...). */
export type UnreachCodeName = keyof typeof UNREACH_CODES;

/**
 * Time exceeded codes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const message: packet.icmp.IcmpPacket;
 * const ttlExpired = message.kind === "time-exceeded" && message.code === packet.icmp.TIME_EXCEEDED_CODES["ttl-exceeded"];
 * ```
 */
export const TIME_EXCEEDED_CODES = {
  /** the TTL ran out in transit */
  "ttl-exceeded": 0,
  /** fragment reassembly time exceeded */
  "reassembly-timeout": 1,
} as const;
/** The name of a time exceeded code ("ttl-exceeded" or "reassembly-timeout"). */
export type TimeExceededCodeName = keyof typeof TIME_EXCEEDED_CODES;

function namesByCode(codes: Readonly<Record<string, number>>): readonly string[] {
  const names: string[] = [];
  for (const [name, code] of Object.entries(codes)) names[code] = name;
  return names;
}

const UNREACH_NAMES = namesByCode(UNREACH_CODES);
const TIME_EXCEEDED_NAMES = namesByCode(TIME_EXCEEDED_CODES);

/**
 * Name of a destination unreachable code, "code-N" for unassigned ones.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.icmp.unreachCodeName(13); // "admin-prohibited"
 * packet.icmp.unreachCodeName(99); // "code-99"
 * ```
 */
export function unreachCodeName(code: number): string {
  return UNREACH_NAMES[code] ?? `code-${code}`;
}

/**
 * Name of a time exceeded code, "code-N" for unassigned ones.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.icmp.timeExceededCodeName(0); // "ttl-exceeded"
 * ```
 */
export function timeExceededCodeName(code: number): string {
  return TIME_EXCEEDED_NAMES[code] ?? `code-${code}`;
}

/**
 * The original datagram an ICMP error quotes, decoded as far as probe matching needs.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const message: packet.icmp.IcmpPacket;
 * if (message.kind === "destination-unreachable") {
 *   const q: packet.icmp.QuotedDatagram = message.original;
 *   console.log(`probe to ${q.ipv4.dst}:${q.dstPort} from port ${q.srcPort}: ${message.codeName}`);
 * }
 * ```
 */
export interface QuotedDatagram extends QuotedTransport {
  /** decoded without checksum verification (NATs rewrite quoted headers) and with allowTruncated */
  ipv4: ipv4.Ipv4Header;
  /** the quoted transport bytes present (normally 8; RFC 1812 routers quote more) */
  transportOffset: number;
  /** how many bytes of it */
  transportLength: number;
}

interface IcmpCommon {
  /** the ICMP type */
  type: number;
  /** the ICMP code */
  code: number;
  /** the checksum field as received */
  checksum: number;
  /** the data after the 8-byte header: echo data, or the quoted datagram of an error */
  payloadOffset: number;
  /** bytes of it */
  payloadLength: number;
}

/**
 * An echo request or reply (ping).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const message: packet.icmp.IcmpPacket;
 * if (message.kind === "echo-reply") console.log(`reply id ${message.id} seq ${message.seq}`);
 * ```
 */
export interface IcmpEcho extends IcmpCommon {
  /** which */
  kind: "echo-request" | "echo-reply";
  /** identifier */
  id: number;
  /** sequence number */
  seq: number;
}

/**
 * A destination unreachable error, with the datagram it quotes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const message: packet.icmp.IcmpPacket;
 * if (message.kind === "destination-unreachable" && message.codeName === "frag-needed") console.log("path MTU", message.mtu);
 * ```
 */
export interface IcmpDestUnreachable extends IcmpCommon {
  /** always destination-unreachable */
  kind: "destination-unreachable";
  /** the code's name (see UNREACH_CODES), code-N for an unassigned one */
  codeName: string;
  /** next-hop MTU for frag-needed (RFC 1191), 0 when the router did not say */
  mtu: number;
  /** the datagram it is about */
  original: QuotedDatagram;
}

/**
 * A time exceeded error (a TTL ran out on the way), with the datagram it quotes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const message: packet.icmp.IcmpPacket;
 * declare const router: string;
 * if (message.kind === "time-exceeded") console.log(`hop ${router} for the probe to ${message.original.ipv4.dst}`);
 * ```
 */
export interface IcmpTimeExceeded extends IcmpCommon {
  /** always time-exceeded */
  kind: "time-exceeded";
  /** ttl-exceeded or reassembly-timeout */
  codeName: string;
  /** the datagram it is about */
  original: QuotedDatagram;
}

/**
 * Any other ICMP message (redirect, timestamp, ...), its type-specific bytes raw.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const message: packet.icmp.IcmpPacket;
 * if (message.kind === "other") console.log(`ICMP type ${message.type} code ${message.code}`);
 * ```
 */
export interface IcmpOther extends IcmpCommon {
  /** always other */
  kind: "other";
  /** bytes 4..7 of the header, whose meaning depends on the type */
  rest: number;
}

/**
 * A decoded ICMP message: `kind` tells which.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const datagram: Buffer; // from a raw ICMP socket
 * const ip = packet.ipv4.decode(datagram);
 * const m = packet.icmp.decode(datagram, ip.payloadOffset, ip.payloadLength);
 * switch (m.kind) {
 *   case "echo-reply":
 *     console.log("reply", m.id, m.seq);
 *     break;
 *   case "destination-unreachable":
 *   case "time-exceeded":
 *     console.log(m.codeName, "for", m.original.ipv4.dst);
 *     break;
 * }
 * ```
 */
export type IcmpPacket = IcmpEcho | IcmpDestUnreachable | IcmpTimeExceeded | IcmpOther;

/**
 * What encode writes into an ICMP message, by `kind`; for an error, `payload` is the quoted datagram.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const ping: packet.icmp.IcmpFields = { kind: "echo-request", id: 0x1234, seq: 1, payload: Buffer.alloc(56) };
 * const message = packet.icmp.encode(ping);
 * ```
 */
export type IcmpFields =
  | {
      /** which message */
      kind: "echo-request" | "echo-reply";
      /** default 0 */
      code?: number;
      /** identifier */
      id: number;
      /** sequence number */
      seq: number;
      /** echo data */
      payload?: Uint8Array;
    }
  | {
      /** which message */
      kind: "destination-unreachable";
      /** the code, as a number or its name */
      code: number | UnreachCodeName;
      /** next-hop MTU, for frag-needed */
      mtu?: number;
      /** the quoted datagram */
      payload?: Uint8Array;
    }
  | {
      /** which message */
      kind: "time-exceeded";
      /** the code, as a number or its name */
      code: number | TimeExceededCodeName;
      /** the quoted datagram */
      payload?: Uint8Array;
    }
  | {
      /** which message */
      kind: "other";
      /** the ICMP type */
      type: number;
      /** the ICMP code */
      code: number;
      /** bytes 4..7 of the header */
      rest?: number;
      /** the data after the header */
      payload?: Uint8Array;
    };

/**
 * Options of decode.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const message: Buffer; // an ICMP message this host sent, captured before checksum offload
 * const m = packet.icmp.decode(message, 0, message.length, { verifyChecksum: false });
 * ```
 */
export interface IcmpDecodeOptions {
  /** default true: a wrong checksum throws DecodeError "bad-checksum" */
  verifyChecksum?: boolean;
}

/**
 * Bytes `encode` writes: 8 plus the payload.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.icmp.encodingLength({ kind: "echo-request", id: 1, seq: 1, payload: Buffer.alloc(56) }); // 64, as ping sends
 * ```
 */
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
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const request = packet.icmp.encode({ kind: "echo-request", id: process.pid & 0xffff, seq: 1, payload: Buffer.from("wireprobe") });
 * // send it on a raw ICMP socket, or wrap it: packet.ipv4.encode({ ..., protocol: packet.ipv4.PROTOCOL_ICMP })
 * ```
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
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const request = packet.icmp.encode({ kind: "echo-request", id: 7, seq: 1 });
 * const m = packet.icmp.decode(request);
 * if (m.kind === "echo-request") console.log(m.id, m.seq); // 7 1
 * ```
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
