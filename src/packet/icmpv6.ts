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

/** bytes of an ICMPv6 header */
export const HEADER_LENGTH = 8;
/** type of a destination unreachable error */
export const TYPE_DEST_UNREACHABLE = 1;
/** type of a packet too big error */
export const TYPE_PACKET_TOO_BIG = 2;
/** type of a time exceeded error */
export const TYPE_TIME_EXCEEDED = 3;
/** type of a parameter problem error */
export const TYPE_PARAMETER_PROBLEM = 4;
/** type of an echo request */
export const TYPE_ECHO_REQUEST = 128;
/** type of an echo reply */
export const TYPE_ECHO_REPLY = 129;
/** type of a neighbour solicitation (see ndp) */
export const TYPE_NEIGHBOR_SOLICITATION = 135;
/** type of a neighbour advertisement (see ndp) */
export const TYPE_NEIGHBOR_ADVERTISEMENT = 136;

/**
 * Destination unreachable codes (RFC 4443 3.1, RFC 6550 for 7).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const ip = { src: "2001:db8::1", dst: "2001:db8::10" };
 * const error = packet.icmpv6.encode({ kind: "destination-unreachable", code: packet.icmpv6.UNREACH_CODES["port-unreachable"] }, undefined, 0, ip);
 * ```
 */
export const UNREACH_CODES = {
  /** no route to the destination */
  "no-route": 0,
  /** communication administratively prohibited (a firewall's reject) */
  "admin-prohibited": 1,
  /** beyond the scope of the source address */
  "beyond-scope": 2,
  /** address unreachable (neighbour discovery failed) */
  "address-unreachable": 3,
  /** port unreachable (UDP closed) */
  "port-unreachable": 4,
  /** the source address failed ingress/egress policy */
  "source-policy-failed": 5,
  /** reject route to the destination */
  "reject-route": 6,
  /** error in the source routing header */
  "source-routing-error": 7,
} as const;
/** The name of an ICMPv6 destination unreachable code ("no-route", "port-unreachable", ...). */
export type UnreachCodeName = keyof typeof UNREACH_CODES;

/**
 * Time exceeded codes (RFC 4443 3.3).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const m: packet.icmpv6.Icmpv6Packet;
 * const hopLimit = m.kind === "time-exceeded" && m.code === packet.icmpv6.TIME_EXCEEDED_CODES["hop-limit-exceeded"];
 * ```
 */
export const TIME_EXCEEDED_CODES = {
  /** the hop limit ran out in transit */
  "hop-limit-exceeded": 0,
  /** fragment reassembly time exceeded */
  "reassembly-timeout": 1,
} as const;
/** The name of an ICMPv6 time exceeded code ("hop-limit-exceeded" or "reassembly-timeout"). */
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
 * packet.icmpv6.unreachCodeName(6); // "reject-route"
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
 * packet.icmpv6.timeExceededCodeName(0); // "hop-limit-exceeded"
 * ```
 */
export function timeExceededCodeName(code: number): string {
  return TIME_EXCEEDED_NAMES[code] ?? `code-${code}`;
}

/**
 * IPv6 addresses for the pseudo-header: text or 16 bytes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const ip: packet.icmpv6.Ipv6PseudoHeader = { src: "2001:db8::10", dst: packet.ipv6Address.toIpv6Bytes("2001:db8::11") };
 * const request = packet.icmpv6.encode({ kind: "echo-request", id: 1, seq: 1 }, undefined, 0, ip);
 * ```
 */
export interface Ipv6PseudoHeader {
  /** source address */
  src: string | Uint8Array;
  /** destination address */
  dst: string | Uint8Array;
}

/**
 * The original packet an ICMPv6 error quotes, decoded as far as probe matching needs.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const m: packet.icmpv6.Icmpv6Packet;
 * if (m.kind === "destination-unreachable") {
 *   const q: packet.icmpv6.QuotedPacket = m.original;
 *   console.log(`probe to [${q.ipv6.dst}]:${q.dstPort}: ${m.codeName}`);
 * }
 * ```
 */
export interface QuotedPacket extends QuotedTransport {
  /** decoded with allowTruncated (the quote is cut to fit 1280 bytes) */
  ipv6: ipv6.Ipv6Header;
}

interface Icmpv6Common {
  /** the ICMPv6 type */
  type: number;
  /** the ICMPv6 code */
  code: number;
  /** the checksum field as received */
  checksum: number;
  /** the data after the 8-byte header: echo data, or the quoted packet of an error */
  payloadOffset: number;
  /** bytes of it */
  payloadLength: number;
}

/**
 * An echo request or reply (ping over IPv6).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const m: packet.icmpv6.Icmpv6Packet;
 * if (m.kind === "echo-reply") console.log(`reply id ${m.id} seq ${m.seq}`);
 * ```
 */
export interface Icmpv6Echo extends Icmpv6Common {
  /** which */
  kind: "echo-request" | "echo-reply";
  /** identifier */
  id: number;
  /** sequence number */
  seq: number;
}

/**
 * A destination unreachable error, with the packet it quotes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const m: packet.icmpv6.Icmpv6Packet;
 * if (m.kind === "destination-unreachable") console.log(m.codeName, "for", m.original.ipv6.dst);
 * ```
 */
export interface Icmpv6DestUnreachable extends Icmpv6Common {
  /** always destination-unreachable */
  kind: "destination-unreachable";
  /** the code's name (see UNREACH_CODES), code-N for an unassigned one */
  codeName: string;
  /** the packet it is about */
  original: QuotedPacket;
}

/**
 * A packet too big error: the MTU of the next hop, with the packet it quotes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const m: packet.icmpv6.Icmpv6Packet;
 * if (m.kind === "packet-too-big") console.log(`path MTU to ${m.original.ipv6.dst}: ${m.mtu}`);
 * ```
 */
export interface Icmpv6PacketTooBig extends Icmpv6Common {
  /** always packet-too-big */
  kind: "packet-too-big";
  /** the next hop's MTU */
  mtu: number;
  /** the packet it is about */
  original: QuotedPacket;
}

/**
 * A time exceeded error (the hop limit ran out on the way), with the packet it quotes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const m: packet.icmpv6.Icmpv6Packet;
 * if (m.kind === "time-exceeded") console.log(m.codeName, "for", m.original.ipv6.dst);
 * ```
 */
export interface Icmpv6TimeExceeded extends Icmpv6Common {
  /** always time-exceeded */
  kind: "time-exceeded";
  /** hop-limit-exceeded or reassembly-timeout */
  codeName: string;
  /** the packet it is about */
  original: QuotedPacket;
}

/**
 * A parameter problem error: a field of the quoted packet the receiver could not process.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const m: packet.icmpv6.Icmpv6Packet;
 * if (m.kind === "parameter-problem") console.log(`code ${m.code} at byte ${m.pointer} of the probe to ${m.original.ipv6.dst}`);
 * ```
 */
export interface Icmpv6ParameterProblem extends Icmpv6Common {
  /** always parameter-problem */
  kind: "parameter-problem";
  /** offset of the offending byte in the original packet */
  pointer: number;
  /** the packet it is about */
  original: QuotedPacket;
}

/**
 * Any other ICMPv6 message (router solicitation and advertisement, redirect, MLD, ...), its type-specific
 * bytes raw.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const m: packet.icmpv6.Icmpv6Packet;
 * if (m.kind === "other" && m.type === 134) console.log("a router advertisement");
 * ```
 */
export interface Icmpv6Other extends Icmpv6Common {
  /** always other */
  kind: "other";
  /** bytes 4..7 of the header, whose meaning depends on the type */
  rest: number;
}

/**
 * A decoded ICMPv6 message (other than neighbour discovery, see ndp): `kind` tells which.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const { icmpv6 } = packet.decodeFrame(frame, { linkType: "ethernet", ipv6: true });
 * if (icmpv6?.kind === "echo-reply") console.log("reply", icmpv6.seq);
 * else if (icmpv6 && "original" in icmpv6) console.log(icmpv6.kind, "about", icmpv6.original.ipv6.dst);
 * ```
 */
export type Icmpv6Packet =
  | Icmpv6Echo
  | Icmpv6DestUnreachable
  | Icmpv6PacketTooBig
  | Icmpv6TimeExceeded
  | Icmpv6ParameterProblem
  | Icmpv6Other;

/**
 * What encode writes into an ICMPv6 message, by `kind`; for an error, `payload` is the quoted packet.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const ping: packet.icmpv6.Icmpv6Fields = { kind: "echo-request", id: 0x1234, seq: 1, payload: Buffer.alloc(56) };
 * const message = packet.icmpv6.encode(ping, undefined, 0, { src: "2001:db8::10", dst: "2001:db8::11" });
 * ```
 */
export type Icmpv6Fields =
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
      /** the quoted packet */
      payload?: Uint8Array;
    }
  | {
      /** which message */
      kind: "packet-too-big";
      /** the next hop's MTU */
      mtu: number;
      /** the quoted packet */
      payload?: Uint8Array;
    }
  | {
      /** which message */
      kind: "time-exceeded";
      /** the code, as a number or its name */
      code: number | TimeExceededCodeName;
      /** the quoted packet */
      payload?: Uint8Array;
    }
  | {
      /** which message */
      kind: "parameter-problem";
      /** 0 erroneous header field, 1 unrecognized next header, 2 unrecognized option */
      code: number;
      /** offset of the offending byte in the quoted packet */
      pointer: number;
      /** the quoted packet */
      payload?: Uint8Array;
    }
  | {
      /** which message */
      kind: "other";
      /** the ICMPv6 type */
      type: number;
      /** the ICMPv6 code */
      code: number;
      /** bytes 4..7 of the header */
      rest?: number;
      /** the data after the header */
      payload?: Uint8Array;
    };

/**
 * Options of decode: the addresses the checksum is verified over.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const datagram: Buffer; // an IPv6 packet carrying ICMPv6
 * const ip = packet.ipv6.decode(datagram);
 * const options: packet.icmpv6.Icmpv6DecodeOptions = { src: ip.srcBytes, dst: ip.dstBytes }; // verify the checksum
 * const m = packet.icmpv6.decode(datagram, ip.upperOffset, ip.upperLength, options);
 * ```
 */
export interface Icmpv6DecodeOptions {
  /** with both addresses (16 bytes each) the checksum is verified, unless verifyChecksum is false */
  src?: Uint8Array;
  /** destination address, as src */
  dst?: Uint8Array;
  /** default true when both addresses are given */
  verifyChecksum?: boolean;
}

/**
 * Bytes `encode` writes: 8 plus the payload.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.icmpv6.encodingLength({ kind: "echo-request", id: 1, seq: 1, payload: Buffer.alloc(56) }); // 64
 * ```
 */
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
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * // on an ICMPv6 raw socket the kernel fills in the checksum: no addresses needed
 * const request = packet.icmpv6.encode({ kind: "echo-request", id: 1, seq: 1, payload: Buffer.from("wireprobe") });
 * ```
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
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const ip = { src: "2001:db8::10", dst: "2001:db8::11" };
 * const bytes = packet.icmpv6.encode({ kind: "echo-reply", id: 9, seq: 2 }, undefined, 0, ip);
 * const m = packet.icmpv6.decode(bytes, 0, bytes.length, { src: packet.ipv6Address.toIpv6Bytes(ip.src), dst: packet.ipv6Address.toIpv6Bytes(ip.dst) });
 * if (m.kind === "echo-reply") console.log(m.id, m.seq); // 9 2
 * ```
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
