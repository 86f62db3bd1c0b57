// Neighbour discovery (RFC 4861): neighbour solicitation and advertisement, the ARP of IPv6, with their
// link-layer address options; and a one-call writer of a whole solicitation frame for adjacency probes.

import { macToString, parseMac } from "../addr/address";
import { formatIpv6, multicastMac, solicitedNodeAddress, toIpv6Bytes } from "../addr/ipv6";
import { transportChecksum6 } from "./checksum";
import { DecodeError } from "./errors";
import { ETHERTYPE_IPV6 } from "./ethernet";
import type { Ipv6PseudoHeader } from "./icmpv6";
import { decodeRange, encodeTarget, u16, w16 } from "./internal";
import { NEXT_HEADER_ICMPV6, writeHeader } from "./ipv6";

/** ICMPv6 type of a neighbour solicitation */
export const TYPE_NEIGHBOR_SOLICITATION = 135;
/** ICMPv6 type of a neighbour advertisement */
export const TYPE_NEIGHBOR_ADVERTISEMENT = 136;
/** type, code, checksum, reserved/flags, target address */
export const MESSAGE_LENGTH = 24;
/** option type: source link-layer address */
export const OPTION_SOURCE_LINK_LAYER = 1;
/** option type: target link-layer address */
export const OPTION_TARGET_LINK_LAYER = 2;
/** advertisement flag R: the sender is a router */
export const FLAG_ROUTER = 0x80;
/** advertisement flag S: an answer to a solicitation */
export const FLAG_SOLICITED = 0x40;
/** advertisement flag O: the address should replace a cached one */
export const FLAG_OVERRIDE = 0x20;
/** RFC 4861 7.1: a node drops NDP packets whose hop limit is not 255 (they came through a router) */
export const HOP_LIMIT = 255;
/** Ethernet + IPv6 + solicitation + source link-layer option: 14 + 40 + 24 + 8 */
export const SOLICITATION_FRAME_LENGTH = 86;

/**
 * One option of a neighbour discovery message, raw.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const m: packet.ndp.NdpMessage;
 * const mtu = m.options.find((o) => o.type === 5); // an MTU option
 * ```
 */
export interface NdpOption {
  /** the option type (OPTION_SOURCE_LINK_LAYER, ...) */
  type: number;
  /** the option's bytes after type and length (a view into the decoded buffer) */
  data: Buffer;
}

interface NdpCommon {
  /** the ICMPv6 type (135 or 136) */
  type: number;
  /** always 0 */
  code: number;
  /** the checksum field as received */
  checksum: number;
  /** the target address, RFC 5952 text */
  target: string;
  /** its 16 bytes (a view into the decoded buffer) */
  targetBytes: Buffer;
  /** every option, in order */
  options: NdpOption[];
  /** the MAC of the first 8-byte link-layer address option of the message's kind, null without one */
  linkLayerAddress: string | null;
}

/**
 * A neighbour solicitation: who has this address (IPv6's ARP request).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const { ndp } = packet.decodeFrame(frame, { linkType: "ethernet", ipv6: true });
 * if (ndp?.kind === "neighbor-solicitation") console.log(`who has ${ndp.target}? tell ${ndp.linkLayerAddress}`);
 * ```
 */
export interface NeighborSolicitation extends NdpCommon {
  /** always neighbor-solicitation */
  kind: "neighbor-solicitation";
}

/**
 * A neighbour advertisement: this address is at this MAC (IPv6's ARP reply).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const { ndp } = packet.decodeFrame(frame, { linkType: "ethernet", ipv6: true });
 * if (ndp?.kind === "neighbor-advertisement" && ndp.solicited) console.log(`${ndp.target} is at ${ndp.linkLayerAddress}`);
 * ```
 */
export interface NeighborAdvertisement extends NdpCommon {
  /** always neighbor-advertisement */
  kind: "neighbor-advertisement";
  /** R: the sender is a router */
  router: boolean;
  /** S: an answer to a solicitation */
  solicited: boolean;
  /** O: it should replace a cached address */
  override: boolean;
}

/**
 * A decoded neighbour solicitation or advertisement: `kind` tells which.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const message: Buffer; // an ICMPv6 message of type 135 or 136
 * const m: packet.ndp.NdpMessage = packet.ndp.decode(message);
 * console.log(m.kind, m.target, m.linkLayerAddress);
 * ```
 */
export type NdpMessage = NeighborSolicitation | NeighborAdvertisement;

/**
 * What encode writes into a neighbour solicitation or advertisement: addresses as text or bytes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const answer: packet.ndp.NdpFields = {
 *   kind: "neighbor-advertisement",
 *   target: "2001:db8::11",
 *   solicited: true,
 *   override: true,
 *   targetLinkLayer: "02:00:00:00:00:11",
 * };
 * const message = packet.ndp.encode(answer, undefined, 0, { src: "2001:db8::11", dst: "2001:db8::10" });
 * ```
 */
export type NdpFields =
  | {
      /** which message */
      kind: "neighbor-solicitation";
      /** the address asked about */
      target: string | Uint8Array;
      /** the asker's MAC, sent as a source link-layer address option */
      sourceLinkLayer?: string | Uint8Array;
    }
  | {
      /** which message */
      kind: "neighbor-advertisement";
      /** the address advertised */
      target: string | Uint8Array;
      /** set R */
      router?: boolean;
      /** set S */
      solicited?: boolean;
      /** set O */
      override?: boolean;
      /** its MAC, sent as a target link-layer address option */
      targetLinkLayer?: string | Uint8Array;
    };

/**
 * Options of decode: the addresses the checksum is verified over.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const datagram: Buffer;
 * const ip = packet.ipv6.decode(datagram);
 * const m = packet.ndp.decode(datagram, ip.upperOffset, ip.upperLength, { src: ip.srcBytes, dst: ip.dstBytes });
 * ```
 */
export interface NdpDecodeOptions {
  /** with both addresses (16 bytes each) the checksum is verified, unless verifyChecksum is false */
  src?: Uint8Array;
  /** destination address, as src */
  dst?: Uint8Array;
  /** default true when both addresses are given */
  verifyChecksum?: boolean;
}

function linkLayer(fields: NdpFields): string | Uint8Array | undefined {
  return fields.kind === "neighbor-solicitation" ? fields.sourceLinkLayer : fields.targetLinkLayer;
}

/**
 * Bytes `encode` writes: 24, plus 8 with a link-layer address option.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * packet.ndp.encodingLength({ kind: "neighbor-solicitation", target: "2001:db8::11", sourceLinkLayer: "02:00:00:00:00:01" }); // 32
 * ```
 */
export function encodingLength(fields: NdpFields): number {
  return MESSAGE_LENGTH + (linkLayer(fields) !== undefined ? 8 : 0);
}

/**
 * Writes the ICMPv6 message into `buf` at `offset` (a new Buffer when omitted) and returns the buffer. The
 * checksum is computed with `ip` (the addresses of the IPv6 header it will travel in), else left 0.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const solicitation = packet.ndp.encode(
 *   { kind: "neighbor-solicitation", target: "2001:db8::11", sourceLinkLayer: "02:00:00:00:00:01" },
 *   undefined,
 *   0,
 *   { src: "2001:db8::10", dst: packet.ipv6Address.formatIpv6(packet.ipv6Address.solicitedNodeAddress(packet.ipv6Address.toIpv6Bytes("2001:db8::11"))) },
 * );
 * ```
 */
export function encode(fields: NdpFields, buf?: Buffer, offset = 0, ip?: Ipv6PseudoHeader): Buffer {
  const length = encodingLength(fields);
  const out = encodeTarget("ndp", buf, offset, length);
  const target = toIpv6Bytes(fields.target);
  const isNs = fields.kind === "neighbor-solicitation";
  out.fill(0, offset, offset + MESSAGE_LENGTH);
  out[offset] = isNs ? TYPE_NEIGHBOR_SOLICITATION : TYPE_NEIGHBOR_ADVERTISEMENT;
  if (!isNs) {
    out[offset + 4] =
      (fields.router ? FLAG_ROUTER : 0) |
      (fields.solicited ? FLAG_SOLICITED : 0) |
      (fields.override ? FLAG_OVERRIDE : 0);
  }
  out.set(target, offset + 8);
  const mac = linkLayer(fields);
  if (mac !== undefined) {
    const o = offset + MESSAGE_LENGTH;
    out[o] = isNs ? OPTION_SOURCE_LINK_LAYER : OPTION_TARGET_LINK_LAYER;
    out[o + 1] = 1;
    if (typeof mac === "string") parseMac(mac, out, o + 2);
    else if (mac.length !== 6) throw new RangeError(`ndp: a MAC address is 6 bytes, got ${mac.length}`);
    else out.set(mac, o + 2);
  }
  if (ip) {
    w16(
      out,
      offset + 2,
      transportChecksum6(out, offset, length, toIpv6Bytes(ip.src), toIpv6Bytes(ip.dst), NEXT_HEADER_ICMPV6),
    );
  }
  return out;
}

/**
 * Decodes a neighbour solicitation or advertisement at buf[offset, offset + length) (the ICMPv6 message).
 * Refuses other ICMPv6 types and a non-zero code ("unsupported"), fewer than 24 bytes ("truncated"), and
 * an option of length 0 or running past the end ("bad-option"), as RFC 4861 7.1.1/7.1.2 tell a node to.
 * The hop limit 255 check belongs to the caller, which has the IPv6 header.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const bytes = packet.ndp.encode({ kind: "neighbor-advertisement", target: "2001:db8::11", solicited: true, targetLinkLayer: "02:00:00:00:00:11" });
 * const m = packet.ndp.decode(bytes);
 * if (m.kind === "neighbor-advertisement") console.log(m.target, m.linkLayerAddress, m.solicited); // 2001:db8::11 02:00:00:00:00:11 true
 * ```
 */
export function decode(buf: Buffer, offset = 0, length?: number, options?: NdpDecodeOptions): NdpMessage {
  const end = decodeRange("ndp", buf, offset, length);
  if (end - offset < MESSAGE_LENGTH) {
    throw new DecodeError("ndp", "truncated", `message needs ${MESSAGE_LENGTH} bytes, have ${end - offset}`);
  }
  const type = buf[offset];
  const code = buf[offset + 1];
  if (type !== TYPE_NEIGHBOR_SOLICITATION && type !== TYPE_NEIGHBOR_ADVERTISEMENT) {
    throw new DecodeError(
      "ndp",
      "unsupported",
      `ICMPv6 type ${type} is not a neighbour solicitation or advertisement`,
    );
  }
  if (code !== 0) throw new DecodeError("ndp", "unsupported", `code is ${code}, not 0`);
  const checksum = u16(buf, offset + 2);
  if (
    options?.verifyChecksum !== false &&
    options?.src !== undefined &&
    options.dst !== undefined &&
    transportChecksum6(buf, offset, end - offset, options.src, options.dst, NEXT_HEADER_ICMPV6) !== 0
  ) {
    throw new DecodeError("ndp", "bad-checksum", `checksum 0x${checksum.toString(16)} is wrong`);
  }
  const isNs = type === TYPE_NEIGHBOR_SOLICITATION;
  const wanted = isNs ? OPTION_SOURCE_LINK_LAYER : OPTION_TARGET_LINK_LAYER;
  const opts: NdpOption[] = [];
  let linkLayerAddress: string | null = null;
  let p = offset + MESSAGE_LENGTH;
  while (p < end) {
    if (p + 2 > end) throw new DecodeError("ndp", "bad-option", `option at ${p - offset} has no length byte`);
    const len = buf[p + 1] * 8;
    if (len === 0 || p + len > end) {
      throw new DecodeError(
        "ndp",
        "bad-option",
        `option ${buf[p]} at ${p - offset} has impossible length ${len}`,
      );
    }
    if (buf[p] === wanted && len === 8 && linkLayerAddress === null)
      linkLayerAddress = macToString(buf, p + 2);
    opts.push({ type: buf[p], data: buf.subarray(p + 2, p + len) });
    p += len;
  }
  const targetBytes = buf.subarray(offset + 8, offset + 24);
  const common = {
    type,
    code,
    checksum,
    target: formatIpv6(buf, offset + 8),
    targetBytes,
    options: opts,
    linkLayerAddress,
  };
  if (isNs) return { kind: "neighbor-solicitation", ...common };
  const flags = buf[offset + 4];
  return {
    kind: "neighbor-advertisement",
    ...common,
    router: (flags & FLAG_ROUTER) !== 0,
    solicited: (flags & FLAG_SOLICITED) !== 0,
    override: (flags & FLAG_OVERRIDE) !== 0,
  };
}

/**
 * Writes a whole neighbour solicitation frame for `targetIp` into `buf` at `offset` and returns its length
 * (86): Ethernet to the solicited-node group's MAC (33:33:ff:XX:XX:XX), IPv6 from `srcIp` to the
 * solicited-node address (ff02::1:ffXX:XXXX) with hop limit 255, and the solicitation with a source
 * link-layer address option and its checksum. Addresses are 16-byte arrays, the MAC 6 bytes. Allocates
 * nothing, so a sweep can reuse one buffer. Throws RangeError when it does not fit or an argument is wrong.
 *
 * @example
 * ```ts
 * import { TargetSet, packet } from "wireprobe";
 *
 * const srcMac = packet.address.parseMac("02:00:00:00:00:01");
 * const srcIp = packet.ipv6Address.toIpv6Bytes("2001:db8::1");
 * const targets = TargetSet.parse(["2001:db8::10-1f"]);
 * const frame = Buffer.alloc(packet.ndp.SOLICITATION_FRAME_LENGTH);
 * const target = new Uint8Array(16);
 * for (let i = targets.size4; i < targets.size; i++) {
 *   targets.ipv6Into(i, target);
 *   const n = packet.ndp.writeNeighborSolicitationFrame(frame, 0, srcMac, srcIp, target);
 *   // send frame.subarray(0, n) on an AF_PACKET socket
 * }
 * ```
 */
export function writeNeighborSolicitationFrame(
  buf: Buffer,
  offset: number,
  srcMac: Uint8Array,
  srcIp: Uint8Array,
  targetIp: Uint8Array,
): number {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + SOLICITATION_FRAME_LENGTH > buf.length) {
    throw new RangeError(
      `writeNeighborSolicitationFrame: no room for ${SOLICITATION_FRAME_LENGTH} bytes at offset ${offset}`,
    );
  }
  if (srcMac.length !== 6)
    throw new RangeError(`writeNeighborSolicitationFrame: srcMac must be 6 bytes, got ${srcMac.length}`);
  if (srcIp.length !== 16 || targetIp.length !== 16) {
    throw new RangeError(
      `writeNeighborSolicitationFrame: addresses must be 16 bytes (${srcIp.length}, ${targetIp.length})`,
    );
  }
  const ip = offset + 14;
  // The destination field first gets the target, then its solicited-node group in place.
  writeHeader(buf, ip, 32, NEXT_HEADER_ICMPV6, HOP_LIMIT, srcIp, targetIp);
  solicitedNodeAddress(targetIp, 0, buf, ip + 24);
  multicastMac(buf, ip + 24, buf, offset);
  buf.set(srcMac, offset + 6);
  w16(buf, offset + 12, ETHERTYPE_IPV6);
  const m = ip + 40;
  buf[m] = TYPE_NEIGHBOR_SOLICITATION;
  buf[m + 1] = 0;
  w16(buf, m + 2, 0);
  buf.fill(0, m + 4, m + 8);
  buf.set(targetIp, m + 8);
  buf[m + 24] = OPTION_SOURCE_LINK_LAYER;
  buf[m + 25] = 1;
  buf.set(srcMac, m + 26);
  w16(buf, m + 2, transportChecksum6(buf, m, 32, buf, buf, NEXT_HEADER_ICMPV6, ip + 8, ip + 24));
  return SOLICITATION_FRAME_LENGTH;
}

/**
 * What readNeighborAdvertisement extracts: offsets into the frame's buffer and flags, no strings.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const view: packet.ndp.NeighborAdvertisementView = { targetOffset: 0, macOffset: 0, hasTargetLinkLayer: false, solicited: false, router: false, override: false };
 * declare const frame: Buffer;
 * if (packet.ndp.readNeighborAdvertisement(frame, 0, frame.length, view)) console.log(packet.address.macToString(frame, view.macOffset));
 * ```
 */
export interface NeighborAdvertisementView {
  /** where the 16-byte target address starts */
  targetOffset: number;
  /** where the 6-byte MAC of the target link-layer option starts, else the Ethernet source's */
  macOffset: number;
  /** the option was there (RFC 4861 7.2.4: it must be, in answer to a multicast solicitation) */
  hasTargetLinkLayer: boolean;
  /** S: an answer to a solicitation */
  solicited: boolean;
  /** R: the sender is a router */
  router: boolean;
  /** O: it should replace a cached address */
  override: boolean;
}

/**
 * Recognizes an Ethernet frame at frame[offset, offset + length) carrying a valid neighbour advertisement: IPv6
 * with no extension header, hop limit 255, ICMPv6 type 136 code 0, a correct checksum, well-formed options
 * (RFC 4861 7.1.2). Returns null for anything else, including bad arguments; never throws. Pass `out` to fill
 * an existing object and allocate nothing per advertisement.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer; // read from an AF_PACKET socket
 * const na = packet.ndp.readNeighborAdvertisement(frame, 0, frame.length);
 * if (na) console.log(packet.ipv6Address.formatIpv6(frame, na.targetOffset), "is at", packet.address.macToString(frame, na.macOffset));
 * ```
 */
export function readNeighborAdvertisement(
  frame: Buffer,
  offset: number,
  length: number,
  out?: NeighborAdvertisementView,
): NeighborAdvertisementView | null {
  if (
    !(frame instanceof Uint8Array) ||
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 14 + 40 + MESSAGE_LENGTH ||
    offset + length > frame.length
  ) {
    return null;
  }
  const ip = offset + 14;
  if (u16(frame, offset + 12) !== ETHERTYPE_IPV6 || frame[ip]! >> 4 !== 6) return null;
  if (frame[ip + 6] !== NEXT_HEADER_ICMPV6 || frame[ip + 7] !== HOP_LIMIT) return null;
  const payload = u16(frame, ip + 4);
  const m = ip + 40;
  if (payload < MESSAGE_LENGTH || m + payload > offset + length) return null;
  if (frame[m] !== TYPE_NEIGHBOR_ADVERTISEMENT || frame[m + 1] !== 0) return null;
  if (transportChecksum6(frame, m, payload, frame, frame, NEXT_HEADER_ICMPV6, ip + 8, ip + 24) !== 0)
    return null;
  // A multicast target is invalid (7.1.2).
  if (frame[m + 8] === 0xff) return null;
  const end = m + payload;
  let mac = -1;
  for (let p = m + MESSAGE_LENGTH; p < end; ) {
    if (p + 2 > end) return null;
    const len = frame[p + 1]! * 8;
    if (len === 0 || p + len > end) return null;
    if (frame[p] === OPTION_TARGET_LINK_LAYER && len === 8 && mac < 0) mac = p + 2;
    p += len;
  }
  const flags = frame[m + 4]!;
  const view = out ?? ({} as NeighborAdvertisementView);
  view.targetOffset = m + 8;
  view.hasTargetLinkLayer = mac >= 0;
  view.macOffset = mac >= 0 ? mac : offset + 6;
  view.solicited = (flags & FLAG_SOLICITED) !== 0;
  view.router = (flags & FLAG_ROUTER) !== 0;
  view.override = (flags & FLAG_OVERRIDE) !== 0;
  return view;
}
