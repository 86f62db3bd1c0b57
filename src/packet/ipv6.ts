// IPv6 fixed header (RFC 8200 section 3). The encoder writes the fixed header only: probes send no extension
// headers. The decoder walks the extension headers a received packet may carry before its upper layer
// (hop-by-hop, routing, destination options, fragment; at most MAX_EXTENSION_HEADERS of them) so that a
// probe answer is found behind them; AH, ESP and anything unknown end the walk and are the `protocol`.

import { formatIpv6, toIpv6Bytes } from "../addr/ipv6";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, u32, w16 } from "./internal";

/** bytes of the IPv6 fixed header */
export const HEADER_LENGTH = 40;
/** next header: hop-by-hop options */
export const NEXT_HEADER_HOP_BY_HOP = 0;
/** next header: TCP */
export const NEXT_HEADER_TCP = 6;
/** next header: UDP */
export const NEXT_HEADER_UDP = 17;
/** next header: routing header */
export const NEXT_HEADER_ROUTING = 43;
/** next header: fragment header */
export const NEXT_HEADER_FRAGMENT = 44;
/** next header: ICMPv6 */
export const NEXT_HEADER_ICMPV6 = 58;
/** next header: no next header */
export const NEXT_HEADER_NONE = 59;
/** next header: destination options */
export const NEXT_HEADER_DEST_OPTIONS = 60;
/** a chain longer than this is refused ("unsupported"): no real answer to a probe carries one */
export const MAX_EXTENSION_HEADERS = 8;

/**
 * One extension header the decoder walked past.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const datagram: Buffer;
 * const ip = packet.ipv6.decode(datagram);
 * for (const h of ip.extensionHeaders) console.log(`extension header ${h.type}: ${h.length} bytes at ${h.offset}`);
 * ```
 */
export interface Ipv6ExtensionHeader {
  /** its type (the next header value that named it) */
  type: number;
  /** where it starts in the buffer */
  offset: number;
  /** its length in bytes */
  length: number;
}

/**
 * A decoded IPv6 header with its extension headers walked: addresses as text and as bytes, where the upper
 * layer starts.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const { ipv6 } = packet.decodeFrame(frame, { linkType: "ethernet", ipv6: true });
 * if (ipv6) console.log(`${ipv6.src} -> ${ipv6.dst} next ${ipv6.protocol} hop limit ${ipv6.hopLimit}`);
 * ```
 */
export interface Ipv6Header {
  /** always 6 */
  version: number;
  /** traffic class (DSCP << 2 | ECN) */
  trafficClass: number;
  /** the 20-bit flow label */
  flowLabel: number;
  /** the payload length field: everything after the fixed header, extension headers included */
  payloadLength: number;
  /** the fixed header's next header field */
  nextHeader: number;
  /** hop limit */
  hopLimit: number;
  /** source address, RFC 5952 text */
  src: string;
  /** destination address, RFC 5952 text */
  dst: string;
  /** views of the 16 address bytes inside the decoded buffer (pseudo-header sums, probe matching) */
  srcBytes: Buffer;
  /** as srcBytes */
  dstBytes: Buffer;
  /** the extension headers walked, in order */
  extensionHeaders: Ipv6ExtensionHeader[];
  /** the upper-layer protocol after the extension headers (or the header that ended the walk) */
  protocol: number;
  /** from a fragment header: offset in 8-byte units, M flag, identification; 0/false/null without one */
  fragmentOffset: number;
  /** the fragment header's M flag */
  moreFragments: boolean;
  /** the fragment header's identification, null without one */
  fragmentId: number | null;
  /** where the upper-layer data start and how many bytes of it are present */
  upperOffset: number;
  /** bytes of upper-layer data present */
  upperLength: number;
  /** true only with allowTruncated, when fewer bytes are present than the payload length says */
  truncated: boolean;
}

/**
 * What encode writes into the IPv6 fixed header: addresses as text or 16 bytes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const payload = packet.udp.encode({ srcPort: 40000, dstPort: 53 });
 * const fields: packet.ipv6.Ipv6Fields = { src: "2001:db8::10", dst: "2001:db8::53", nextHeader: packet.ipv6.NEXT_HEADER_UDP, payloadLength: payload.length };
 * const header = packet.ipv6.encode(fields);
 * ```
 */
export interface Ipv6Fields {
  /** traffic class, default 0 */
  trafficClass?: number;
  /** flow label, default 0 */
  flowLabel?: number;
  /** bytes after the fixed header; default 0 */
  payloadLength?: number;
  /** the payload's protocol (NEXT_HEADER_TCP, ...) */
  nextHeader: number;
  /** default 64 */
  hopLimit?: number;
  /** source address */
  src: string | Uint8Array;
  /** destination address */
  dst: string | Uint8Array;
}

/**
 * Options of decode.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const quote: Buffer; // the packet an ICMPv6 error quotes, cut to fit 1280 bytes
 * const inner = packet.ipv6.decode(quote, 0, quote.length, { allowTruncated: true });
 * ```
 */
export interface Ipv6DecodeOptions {
  /** accept fewer bytes than the payload length says (an ICMPv6 error's quote, a snaplen-cut capture) */
  allowTruncated?: boolean;
}

/**
 * Bytes `encode` writes: always the 40-byte fixed header.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.ipv6.encodingLength(); // 40
 * ```
 */
export function encodingLength(_fields?: Ipv6Fields): number {
  return HEADER_LENGTH;
}

/**
 * Writes the fixed header (not the payload) into `buf` at `offset` (a new Buffer when omitted) and returns
 * the buffer. Throws RangeError/TypeError for out-of-range fields or bad addresses.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const header = packet.ipv6.encode({ src: "2001:db8::10", dst: "2001:db8::11", nextHeader: packet.ipv6.NEXT_HEADER_NONE, hopLimit: 1 });
 * ```
 */
export function encode(fields: Ipv6Fields, buf?: Buffer, offset = 0): Buffer {
  const out = encodeTarget("ipv6", buf, offset, HEADER_LENGTH);
  const tc = checkUint("ipv6: trafficClass", fields.trafficClass ?? 0, 0xff);
  const flow = checkUint("ipv6: flowLabel", fields.flowLabel ?? 0, 0xfffff);
  const src = toIpv6Bytes(fields.src);
  const dst = toIpv6Bytes(fields.dst);
  writeHeader(
    out,
    offset,
    checkUint("ipv6: payloadLength", fields.payloadLength ?? 0, 0xffff),
    checkUint("ipv6: nextHeader", fields.nextHeader, 0xff),
    checkUint("ipv6: hopLimit", fields.hopLimit ?? 64, 0xff),
    src,
    dst,
    tc,
    flow,
  );
  return out;
}

/**
 * Writes a fixed header without checks: for the packet writers, which have validated everything.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const src = packet.ipv6Address.toIpv6Bytes("2001:db8::10");
 * const dst = packet.ipv6Address.toIpv6Bytes("2001:db8::11");
 * const buf = Buffer.alloc(48);
 * packet.ipv6.writeHeader(buf, 0, 8, packet.ipv6.NEXT_HEADER_UDP, 64, src, dst);
 * ```
 */
export function writeHeader(
  buf: Uint8Array,
  o: number,
  payloadLength: number,
  nextHeader: number,
  hopLimit: number,
  src: Uint8Array,
  dst: Uint8Array,
  trafficClass = 0,
  flowLabel = 0,
): void {
  buf[o] = 0x60 | (trafficClass >>> 4);
  buf[o + 1] = ((trafficClass & 0x0f) << 4) | (flowLabel >>> 16);
  w16(buf, o + 2, flowLabel & 0xffff);
  w16(buf, o + 4, payloadLength);
  buf[o + 6] = nextHeader;
  buf[o + 7] = hopLimit;
  buf.set(src, o + 8);
  buf.set(dst, o + 24);
}

function isExtension(type: number): boolean {
  return (
    type === NEXT_HEADER_HOP_BY_HOP ||
    type === NEXT_HEADER_ROUTING ||
    type === NEXT_HEADER_DEST_OPTIONS ||
    type === NEXT_HEADER_FRAGMENT
  );
}

/**
 * Decodes the IPv6 header at buf[offset, offset + length) and walks its extension headers. Validates
 * version 6, that the fixed header is present, payload length <= bytes present (unless allowTruncated) and
 * that each extension header fits in the payload. Bytes past the payload length (padding) are ignored.
 * A jumbogram (payload length 0 with a hop-by-hop header) is refused as "unsupported".
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const datagram: Buffer; // an IPv6 packet, e.g. from a capture with link type raw IPv6
 * const ip = packet.ipv6.decode(datagram);
 * if (ip.protocol === packet.ipv6.NEXT_HEADER_TCP && ip.fragmentId === null) {
 *   const tcp = packet.tcp.decode(datagram, ip.upperOffset, ip.upperLength, { srcIp6: ip.srcBytes, dstIp6: ip.dstBytes });
 * }
 * ```
 */
export function decode(buf: Buffer, offset = 0, length?: number, options?: Ipv6DecodeOptions): Ipv6Header {
  const end = decodeRange("ipv6", buf, offset, length);
  const available = end - offset;
  if (available < HEADER_LENGTH) {
    throw new DecodeError("ipv6", "truncated", `header needs ${HEADER_LENGTH} bytes, have ${available}`);
  }
  const version = buf[offset] >>> 4;
  if (version !== 6) throw new DecodeError("ipv6", "bad-version", `version is ${version}, not 6`);
  const payloadLength = u16(buf, offset + 4);
  const nextHeader = buf[offset + 6];
  if (payloadLength === 0 && nextHeader === NEXT_HEADER_HOP_BY_HOP) {
    throw new DecodeError("ipv6", "unsupported", "jumbograms (payload length 0) are not decoded");
  }
  let truncated = false;
  let payloadEnd = offset + HEADER_LENGTH + payloadLength;
  if (payloadEnd > end) {
    if (!options?.allowTruncated) {
      throw new DecodeError(
        "ipv6",
        "truncated",
        `payload length ${payloadLength} exceeds the ${available - HEADER_LENGTH} bytes present`,
      );
    }
    truncated = true;
    payloadEnd = end;
  }
  const extensionHeaders: Ipv6ExtensionHeader[] = [];
  let protocol = nextHeader;
  let p = offset + HEADER_LENGTH;
  let fragmentOffset = 0;
  let moreFragments = false;
  let fragmentId: number | null = null;
  while (isExtension(protocol)) {
    if (extensionHeaders.length === MAX_EXTENSION_HEADERS) {
      throw new DecodeError("ipv6", "unsupported", `more than ${MAX_EXTENSION_HEADERS} extension headers`);
    }
    if (p + 8 > payloadEnd) {
      throw new DecodeError("ipv6", "truncated", `extension header ${protocol} at ${p - offset} is cut off`);
    }
    const len = protocol === NEXT_HEADER_FRAGMENT ? 8 : (buf[p + 1] + 1) * 8;
    if (p + len > payloadEnd) {
      throw new DecodeError(
        "ipv6",
        truncated ? "truncated" : "bad-length",
        `extension header ${protocol} at ${p - offset} (${len} bytes) runs past the payload`,
      );
    }
    if (protocol === NEXT_HEADER_FRAGMENT) {
      const f = u16(buf, p + 2);
      fragmentOffset = f >>> 3;
      moreFragments = (f & 1) !== 0;
      fragmentId = u32(buf, p + 4);
    }
    extensionHeaders.push({ type: protocol, offset: p, length: len });
    protocol = buf[p];
    p += len;
  }
  const srcBytes = buf.subarray(offset + 8, offset + 24);
  const dstBytes = buf.subarray(offset + 24, offset + 40);
  return {
    version,
    trafficClass: ((buf[offset] & 0x0f) << 4) | (buf[offset + 1] >>> 4),
    flowLabel: ((buf[offset + 1] & 0x0f) << 16) | u16(buf, offset + 2),
    payloadLength,
    nextHeader,
    hopLimit: buf[offset + 7],
    src: formatIpv6(buf, offset + 8),
    dst: formatIpv6(buf, offset + 24),
    srcBytes,
    dstBytes,
    extensionHeaders,
    protocol,
    fragmentOffset,
    moreFragments,
    fragmentId,
    upperOffset: p,
    upperLength: payloadEnd - p,
    truncated,
  };
}
