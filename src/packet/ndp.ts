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

export const TYPE_NEIGHBOR_SOLICITATION = 135;
export const TYPE_NEIGHBOR_ADVERTISEMENT = 136;
/** type, code, checksum, reserved/flags, target address */
export const MESSAGE_LENGTH = 24;
export const OPTION_SOURCE_LINK_LAYER = 1;
export const OPTION_TARGET_LINK_LAYER = 2;
export const FLAG_ROUTER = 0x80;
export const FLAG_SOLICITED = 0x40;
export const FLAG_OVERRIDE = 0x20;
/** RFC 4861 7.1: a node drops NDP packets whose hop limit is not 255 (they came through a router) */
export const HOP_LIMIT = 255;
/** Ethernet + IPv6 + solicitation + source link-layer option: 14 + 40 + 24 + 8 */
export const SOLICITATION_FRAME_LENGTH = 86;

export interface NdpOption {
  type: number;
  /** the option's bytes after type and length (a view into the decoded buffer) */
  data: Buffer;
}

interface NdpCommon {
  type: number;
  code: number;
  checksum: number;
  target: string;
  targetBytes: Buffer;
  options: NdpOption[];
  /** the MAC of the first 8-byte link-layer address option of the message's kind, null without one */
  linkLayerAddress: string | null;
}

export interface NeighborSolicitation extends NdpCommon {
  kind: "neighbor-solicitation";
}

export interface NeighborAdvertisement extends NdpCommon {
  kind: "neighbor-advertisement";
  router: boolean;
  solicited: boolean;
  override: boolean;
}

export type NdpMessage = NeighborSolicitation | NeighborAdvertisement;

export type NdpFields =
  | { kind: "neighbor-solicitation"; target: string | Uint8Array; sourceLinkLayer?: string | Uint8Array }
  | {
      kind: "neighbor-advertisement";
      target: string | Uint8Array;
      router?: boolean;
      solicited?: boolean;
      override?: boolean;
      targetLinkLayer?: string | Uint8Array;
    };

export interface NdpDecodeOptions {
  /** with both addresses (16 bytes each) the checksum is verified, unless verifyChecksum is false */
  src?: Uint8Array;
  dst?: Uint8Array;
  verifyChecksum?: boolean;
}

function linkLayer(fields: NdpFields): string | Uint8Array | undefined {
  return fields.kind === "neighbor-solicitation" ? fields.sourceLinkLayer : fields.targetLinkLayer;
}

/** Bytes `encode` writes: 24, plus 8 with a link-layer address option. */
export function encodingLength(fields: NdpFields): number {
  return MESSAGE_LENGTH + (linkLayer(fields) !== undefined ? 8 : 0);
}

/**
 * Writes the ICMPv6 message into `buf` at `offset` (a new Buffer when omitted) and returns the buffer. The
 * checksum is computed with `ip` (the addresses of the IPv6 header it will travel in), else left 0.
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

/** What readNeighborAdvertisement extracts: offsets into the frame's buffer and flags, no strings. */
export interface NeighborAdvertisementView {
  /** where the 16-byte target address starts */
  targetOffset: number;
  /** where the 6-byte MAC of the target link-layer option starts, else the Ethernet source's */
  macOffset: number;
  /** the option was there (RFC 4861 7.2.4: it must be, in answer to a multicast solicitation) */
  hasTargetLinkLayer: boolean;
  solicited: boolean;
  router: boolean;
  override: boolean;
}

/**
 * Recognizes an Ethernet frame at frame[offset, offset + length) carrying a valid neighbour advertisement: IPv6
 * with no extension header, hop limit 255, ICMPv6 type 136 code 0, a correct checksum, well-formed options
 * (RFC 4861 7.1.2). Returns null for anything else, including bad arguments; never throws. Pass `out` to fill
 * an existing object and allocate nothing per advertisement.
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
