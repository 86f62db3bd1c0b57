// ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses, plus allocation-free sweep helpers.

import { BROADCAST_MAC, intToIpv4, macToString, parseMac, toIpv4Int } from "../addr/address";
import { DecodeError } from "./errors";
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_VLAN } from "./ethernet";
import { checkUint, decodeRange, encodeTarget, u16, u32, w16, w32 } from "./internal";

/** ARP operation: request (who has) */
export const OP_REQUEST = 1;
/** ARP operation: reply (is at) */
export const OP_REPLY = 2;
/** ARP hardware type: Ethernet */
export const HTYPE_ETHERNET = 1;
/** ARP packet length for Ethernet/IPv4 */
export const LENGTH = 28;
/** Ethernet header + ARP request, as writeArpRequestFrame writes it (unpadded; the NIC pads to 60) */
export const REQUEST_FRAME_LENGTH = 42;

/**
 * A decoded Ethernet/IPv4 ARP packet, addresses as text.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const { arp } = packet.decodeFrame(frame, { linkType: "ethernet" });
 * if (arp?.op === packet.arp.OP_REPLY) console.log(`${arp.senderIp} is at ${arp.senderMac}`);
 * ```
 */
export interface ArpPacket {
  /** 1 request, 2 reply; other values (RARP 3/4, ...) are reported as is */
  op: number;
  /** sender hardware address, lower-case colon form */
  senderMac: string;
  /** sender protocol address, dotted quad */
  senderIp: string;
  /** target hardware address (zero in a request) */
  targetMac: string;
  /** target protocol address: the address asked about */
  targetIp: string;
}

/**
 * What encode writes into an ARP packet: MACs as text or 6 bytes, IPv4 addresses as text or unsigned 32-bit
 * numbers.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const reply: packet.arp.ArpFields = {
 *   op: packet.arp.OP_REPLY,
 *   senderMac: "02:00:00:00:00:11",
 *   senderIp: "198.51.100.11",
 *   targetMac: "02:00:00:00:00:01",
 *   targetIp: "198.51.100.1",
 * };
 * const bytes = packet.arp.encode(reply);
 * ```
 */
export interface ArpFields {
  /** OP_REQUEST or OP_REPLY */
  op: number;
  /** sender hardware address */
  senderMac: string | Uint8Array;
  /** sender protocol address */
  senderIp: string | number;
  /** target hardware address (zero in a request) */
  targetMac: string | Uint8Array;
  /** target protocol address */
  targetIp: string | number;
}

/**
 * Bytes `encode` writes: always 28.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const buf = Buffer.alloc(packet.ethernet.HEADER_LENGTH + packet.arp.encodingLength()); // 14 + 28
 * ```
 */
export function encodingLength(): number {
  return LENGTH;
}

function writeMac(mac: string | Uint8Array, buf: Buffer, offset: number): void {
  if (typeof mac === "string") {
    parseMac(mac, buf, offset);
    return;
  }
  if (mac.length !== 6) throw new RangeError(`arp: a MAC address is 6 bytes, got ${mac.length}`);
  buf.set(mac, offset);
}

/**
 * Writes a 28-byte Ethernet/IPv4 ARP packet (no Ethernet header) and returns the buffer.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * // a gratuitous ARP announcement, in a frame of its own
 * const frame = Buffer.alloc(42);
 * packet.ethernet.encode({ dst: "ff:ff:ff:ff:ff:ff", src: "02:00:00:00:00:11", ethertype: packet.ethernet.ETHERTYPE_ARP }, frame);
 * packet.arp.encode(
 *   { op: packet.arp.OP_REQUEST, senderMac: "02:00:00:00:00:11", senderIp: "198.51.100.11", targetMac: "00:00:00:00:00:00", targetIp: "198.51.100.11" },
 *   frame,
 *   14,
 * );
 * ```
 */
export function encode(fields: ArpFields, buf?: Buffer, offset = 0): Buffer {
  const out = encodeTarget("arp", buf, offset, LENGTH);
  checkUint("arp: op", fields.op, 0xffff);
  const senderIp = toIpv4Int(fields.senderIp);
  const targetIp = toIpv4Int(fields.targetIp);
  w16(out, offset, HTYPE_ETHERNET);
  w16(out, offset + 2, ETHERTYPE_IPV4);
  out[offset + 4] = 6;
  out[offset + 5] = 4;
  w16(out, offset + 6, fields.op);
  writeMac(fields.senderMac, out, offset + 8);
  w32(out, offset + 14, senderIp);
  writeMac(fields.targetMac, out, offset + 18);
  w32(out, offset + 24, targetIp);
  return out;
}

/**
 * Decodes the ARP packet at buf[offset, offset + length) (the Ethernet payload). Only Ethernet/IPv4 ARP is
 * accepted (htype 1, ptype 0x0800, hlen 6, plen 4): anything else is DecodeError "unsupported".
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer; // an Ethernet frame of ethertype 0x0806
 * const eth = packet.ethernet.decode(frame);
 * const arp = packet.arp.decode(frame, eth.payloadOffset, eth.payloadLength);
 * console.log(arp.op, arp.senderIp, arp.senderMac, arp.targetIp);
 * ```
 */
export function decode(buf: Buffer, offset = 0, length?: number): ArpPacket {
  const end = decodeRange("arp", buf, offset, length);
  if (end - offset < 8)
    throw new DecodeError("arp", "truncated", `header needs 8 bytes, have ${end - offset}`);
  const htype = u16(buf, offset);
  const ptype = u16(buf, offset + 2);
  const hlen = buf[offset + 4];
  const plen = buf[offset + 5];
  if (htype !== HTYPE_ETHERNET || ptype !== ETHERTYPE_IPV4 || hlen !== 6 || plen !== 4) {
    throw new DecodeError(
      "arp",
      "unsupported",
      `only Ethernet/IPv4 ARP is handled (htype ${htype}, ptype 0x${ptype.toString(16)}, hlen ${hlen}, plen ${plen})`,
    );
  }
  if (end - offset < LENGTH) {
    throw new DecodeError(
      "arp",
      "truncated",
      `Ethernet/IPv4 ARP needs ${LENGTH} bytes, have ${end - offset}`,
    );
  }
  return {
    op: u16(buf, offset + 6),
    senderMac: macToString(buf, offset + 8),
    senderIp: intToIpv4(u32(buf, offset + 14)),
    targetMac: macToString(buf, offset + 18),
    targetIp: intToIpv4(u32(buf, offset + 24)),
  };
}

/**
 * Writes a complete broadcast ARP request frame (Ethernet + ARP, 42 bytes) asking who has `targetIp`, and
 * returns the byte count. No allocation, so a sweep can reuse one buffer for every target. IPs are unsigned
 * 32-bit numbers; srcIp 0 makes an RFC 5227 probe. The target hardware address is zero, as RFC 5227 asks.
 * Throws RangeError when the frame does not fit, srcMac is not 6 bytes or an IP is not a uint32.
 *
 * @example
 * ```ts
 * import { TargetSet, packet } from "wireprobe";
 *
 * const srcMac = packet.address.parseMac("02:00:00:00:00:01");
 * const srcIp = packet.address.ipv4ToInt("198.51.100.1");
 * const targets = TargetSet.parse(["198.51.100.0/24"]);
 * const frames = Buffer.alloc(targets.size4 * packet.arp.REQUEST_FRAME_LENGTH);
 * for (let i = 0; i < targets.size4; i++) {
 *   packet.arp.writeArpRequestFrame(frames, i * packet.arp.REQUEST_FRAME_LENGTH, srcMac, srcIp, targets.at(i));
 * }
 * ```
 */
export function writeArpRequestFrame(
  buf: Buffer,
  offset: number,
  srcMac: Uint8Array,
  srcIp: number,
  targetIp: number,
): number {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + REQUEST_FRAME_LENGTH > buf.length) {
    throw new RangeError(
      `writeArpRequestFrame: no room for ${REQUEST_FRAME_LENGTH} bytes at offset ${offset}`,
    );
  }
  if (srcMac.length !== 6)
    throw new RangeError(`writeArpRequestFrame: srcMac must be 6 bytes, got ${srcMac.length}`);
  if (srcIp >>> 0 !== srcIp || targetIp >>> 0 !== targetIp) {
    throw new RangeError(
      `writeArpRequestFrame: IPs must be unsigned 32-bit integers (${srcIp}, ${targetIp})`,
    );
  }
  buf.set(BROADCAST_MAC, offset);
  buf.set(srcMac, offset + 6);
  w16(buf, offset + 12, ETHERTYPE_ARP);
  const a = offset + 14;
  w16(buf, a, HTYPE_ETHERNET);
  w16(buf, a + 2, ETHERTYPE_IPV4);
  buf[a + 4] = 6;
  buf[a + 5] = 4;
  w16(buf, a + 6, OP_REQUEST);
  buf.set(srcMac, a + 8);
  w32(buf, a + 14, srcIp);
  buf.fill(0, a + 18, a + 24);
  w32(buf, a + 24, targetIp);
  return REQUEST_FRAME_LENGTH;
}

/**
 * What readArpReply extracts: numbers and offsets into the frame's buffer, no strings.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * // one view for every frame: no allocation per reply
 * const view: packet.arp.ArpReplyView = { senderIp: 0, senderMacOffset: 0, targetIp: 0, targetMacOffset: 0, etherSrcOffset: 0 };
 * declare const frame: Buffer;
 * if (packet.arp.readArpReply(frame, 0, frame.length, view)) console.log(packet.address.macToNumber(frame, view.senderMacOffset));
 * ```
 */
export interface ArpReplyView {
  /** the address that answered, as an unsigned 32-bit number */
  senderIp: number;
  /** where the 6-byte sender hardware address starts (use macToString/macToNumber on the same buffer) */
  senderMacOffset: number;
  /** the address the reply is for (the requester's), as an unsigned 32-bit number */
  targetIp: number;
  /** where the 6-byte target hardware address starts */
  targetMacOffset: number;
  /** Ethernet source address; differs from the sender MAC for proxy ARP */
  etherSrcOffset: number;
}

/**
 * Recognizes an Ethernet (optionally 802.1Q-tagged) frame at frame[offset, offset + length) carrying an
 * Ethernet/IPv4 ARP reply. Returns null for anything else, including bad arguments; never throws.
 * Pass `out` to fill an existing object and allocate nothing per reply.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer; // read from an AF_PACKET socket
 * const reply = packet.arp.readArpReply(frame, 0, frame.length);
 * if (reply) {
 *   console.log(packet.address.intToIpv4(reply.senderIp), "is at", packet.address.macToString(frame, reply.senderMacOffset));
 * }
 * ```
 */
export function readArpReply(
  frame: Buffer,
  offset: number,
  length: number,
  out?: ArpReplyView,
): ArpReplyView | null {
  if (
    !(frame instanceof Uint8Array) ||
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > frame.length
  ) {
    return null;
  }
  if (length < 14 + LENGTH) return null;
  let a = offset + 14;
  let ethertype = u16(frame, offset + 12);
  if (ethertype === ETHERTYPE_VLAN) {
    if (length < 18 + LENGTH) return null;
    ethertype = u16(frame, offset + 16);
    a = offset + 18;
  }
  if (
    ethertype !== ETHERTYPE_ARP ||
    u16(frame, a) !== HTYPE_ETHERNET ||
    u16(frame, a + 2) !== ETHERTYPE_IPV4 ||
    frame[a + 4] !== 6 ||
    frame[a + 5] !== 4 ||
    u16(frame, a + 6) !== OP_REPLY
  ) {
    return null;
  }
  const view = out ?? { senderIp: 0, senderMacOffset: 0, targetIp: 0, targetMacOffset: 0, etherSrcOffset: 0 };
  view.senderIp = u32(frame, a + 14);
  view.senderMacOffset = a + 8;
  view.targetIp = u32(frame, a + 24);
  view.targetMacOffset = a + 18;
  view.etherSrcOffset = offset + 6;
  return view;
}
