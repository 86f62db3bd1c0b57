// Ethernet II header, optionally with one 802.1Q tag.

import { macToString, parseMac } from "../addr/address";
import { DecodeError } from "./errors";
import { checkUint, decodeRange, encodeTarget, u16, w16 } from "./internal";

export const HEADER_LENGTH = 14;
export const VLAN_HEADER_LENGTH = 18;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;

/** 802.1Q tag control information. */
export interface VlanTag {
  /** VLAN identifier, 0..4095 (0: priority tag only) */
  id: number;
  /** priority code point, 0..7 */
  priority: number;
  /** drop eligible indicator (formerly CFI) */
  dropEligible: boolean;
}

export interface EthernetHeader {
  dst: string;
  src: string;
  /**
   * Type of the payload: the inner ethertype when the frame is VLAN-tagged. Values below 0x0600 are an
   * 802.3 length, not a type; they are reported as is.
   */
  ethertype: number;
  vlan: VlanTag | null;
  /** 14, or 18 with a VLAN tag */
  headerLength: number;
  /** everything after the header, including any padding and FCS the capture kept */
  payloadOffset: number;
  payloadLength: number;
}

export interface EthernetFields {
  dst: string | Uint8Array;
  src: string | Uint8Array;
  ethertype: number;
  vlan?: { id: number; priority?: number; dropEligible?: boolean } | null;
}

/** Bytes `encode` writes for these fields: 14, or 18 with a VLAN tag. */
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

/** Writes the header into `buf` at `offset` (a new Buffer when omitted) and returns the buffer. */
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
