// Ethernet II header, optionally with one 802.1Q tag.

import { macToString, parseMac } from "../addr/address";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, w16 } from "./internal";

/** bytes of an Ethernet II header */
export const HEADER_LENGTH = 14;
/** bytes of an Ethernet header with one 802.1Q tag */
export const VLAN_HEADER_LENGTH = 18;
/** ethertype of IPv4 */
export const ETHERTYPE_IPV4 = 0x0800;
/** ethertype of ARP */
export const ETHERTYPE_ARP = 0x0806;
/** ethertype of an 802.1Q tag */
export const ETHERTYPE_VLAN = 0x8100;
/** ethertype of IPv6 */
export const ETHERTYPE_IPV6 = 0x86dd;

/**
 * 802.1Q tag control information.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const tag: packet.ethernet.VlanTag | null = packet.ethernet.decode(frame).vlan;
 * if (tag) console.log(`VLAN ${tag.id}, priority ${tag.priority}`);
 * ```
 */
export interface VlanTag {
  /** VLAN identifier, 0..4095 (0: priority tag only) */
  id: number;
  /** priority code point, 0..7 */
  priority: number;
  /** drop eligible indicator (formerly CFI) */
  dropEligible: boolean;
}

/**
 * A decoded Ethernet header, MACs as text.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const eth = packet.ethernet.decode(frame);
 * console.log(eth.src, "->", eth.dst, `0x${eth.ethertype.toString(16)}`, eth.vlan ? `vlan ${eth.vlan.id}` : "");
 * ```
 */
export interface EthernetHeader {
  /** destination MAC */
  dst: string;
  /** source MAC */
  src: string;
  /**
   * Type of the payload: the inner ethertype when the frame is VLAN-tagged. Values below 0x0600 are an
   * 802.3 length, not a type; they are reported as is.
   */
  ethertype: number;
  /** the 802.1Q tag, null when untagged */
  vlan: VlanTag | null;
  /** 14, or 18 with a VLAN tag */
  headerLength: number;
  /** everything after the header, including any padding and FCS the capture kept */
  payloadOffset: number;
  /** bytes from payloadOffset to the end of the frame */
  payloadLength: number;
}

/**
 * What encode writes into an Ethernet header: MACs as text or 6 bytes, and an optional 802.1Q tag.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const tagged: packet.ethernet.EthernetFields = {
 *   dst: "02:00:00:00:00:11",
 *   src: "02:00:00:00:00:01",
 *   ethertype: packet.ethernet.ETHERTYPE_IPV4,
 *   vlan: { id: 100, priority: 5 },
 * };
 * const header = packet.ethernet.encode(tagged); // 18 bytes
 * ```
 */
export interface EthernetFields {
  /** destination MAC */
  dst: string | Uint8Array;
  /** source MAC */
  src: string | Uint8Array;
  /** the payload's type (inside the tag when there is one) */
  ethertype: number;
  /** an 802.1Q tag (priority default 0, dropEligible default false); none when absent or null */
  vlan?: {
    /** VLAN identifier, 0..4095 */
    id: number;
    /** priority code point, 0..7, default 0 */
    priority?: number;
    /** drop eligible indicator, default false */
    dropEligible?: boolean;
  } | null;
}

/**
 * Bytes `encode` writes for these fields: 14, or 18 with a VLAN tag.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const n = packet.ethernet.encodingLength({ dst: "ff:ff:ff:ff:ff:ff", src: "02:00:00:00:00:01", ethertype: 0x0806 }); // 14
 * ```
 */
export function encodingLength(fields: EthernetFields): number {
  return fields.vlan ? VLAN_HEADER_LENGTH : HEADER_LENGTH;
}

function writeMac(mac: string | Uint8Array, buf: Buffer, offset: number): void {
  if (typeof mac === "string") {
    parseMac(mac, buf, offset);
    return;
  }
  if (mac.length !== 6) throw new RangeError(`ethernet: a MAC address is 6 bytes, got ${mac.length}`);
  buf.set(mac, offset);
}

/**
 * Writes the header into `buf` at `offset` (a new Buffer when omitted) and returns the buffer.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const header = packet.ethernet.encode({ dst: "ff:ff:ff:ff:ff:ff", src: "02:00:00:00:00:01", ethertype: packet.ethernet.ETHERTYPE_ARP });
 * console.log(header.toString("hex")); // ffffffffffff0200000000010806
 * ```
 */
export function encode(fields: EthernetFields, buf?: Buffer, offset = 0): Buffer {
  const out = encodeTarget("ethernet", buf, offset, encodingLength(fields));
  checkUint("ethernet: ethertype", fields.ethertype, 0xffff);
  writeMac(fields.dst, out, offset);
  writeMac(fields.src, out, offset + 6);
  if (fields.vlan) {
    const v = fields.vlan;
    checkUint("ethernet: vlan id", v.id, 4095);
    const pcp = checkUint("ethernet: vlan priority", v.priority ?? 0, 7);
    w16(out, offset + 12, ETHERTYPE_VLAN);
    w16(out, offset + 14, (pcp << 13) | (v.dropEligible ? 0x1000 : 0) | v.id);
    w16(out, offset + 16, fields.ethertype);
  } else {
    w16(out, offset + 12, fields.ethertype);
  }
  return out;
}

/**
 * Decodes the Ethernet header of the frame buf[offset, offset + length). One 802.1Q tag is unwrapped;
 * a second (QinQ) shows up as ethertype 0x8100/0x88a8 of the payload.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer;
 * const eth = packet.ethernet.decode(frame);
 * if (eth.ethertype === packet.ethernet.ETHERTYPE_IPV4) {
 *   const ip = packet.ipv4.decode(frame, eth.payloadOffset, eth.payloadLength);
 * }
 * ```
 */
export function decode(buf: Buffer, offset = 0, length?: number): EthernetHeader {
  const end = decodeRange("ethernet", buf, offset, length);
  if (end - offset < HEADER_LENGTH) {
    throw new DecodeError(
      "ethernet",
      "truncated",
      `header needs ${HEADER_LENGTH} bytes, have ${end - offset}`,
    );
  }
  let ethertype = u16(buf, offset + 12);
  let vlan: VlanTag | null = null;
  let headerLength = HEADER_LENGTH;
  if (ethertype === ETHERTYPE_VLAN) {
    if (end - offset < VLAN_HEADER_LENGTH) {
      throw new DecodeError(
        "ethernet",
        "truncated",
        `VLAN-tagged header needs ${VLAN_HEADER_LENGTH} bytes, have ${end - offset}`,
      );
    }
    const tci = u16(buf, offset + 14);
    vlan = { id: tci & 0x0fff, priority: tci >>> 13, dropEligible: (tci & 0x1000) !== 0 };
    ethertype = u16(buf, offset + 16);
    headerLength = VLAN_HEADER_LENGTH;
  }
  return {
    dst: macToString(buf, offset),
    src: macToString(buf, offset + 6),
    ethertype,
    vlan,
    headerLength,
    payloadOffset: offset + headerLength,
    payloadLength: end - offset - headerLength,
  };
}
