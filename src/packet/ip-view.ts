// The header walk every scan's answer reader starts with: an IPv4 or IPv6 packet, in an Ethernet frame or raw,
// checked and read in place into a reusable view. The hot paths (a sweep's answers) call it once per packet,
// so it allocates nothing and never throws on packet data: anything malformed is simply not read.

import { u16, u32 } from "./internal";

export class IpView {
  family: 4 | 6 = 4;
  /** the transport protocol: the IPv4 protocol, or the IPv6 fixed header's next header (no extension walk) */
  protocol = 0;
  /** IPv4 TTL or IPv6 hop limit */
  ttl = 0;
  /** IPv4: the source and destination as unsigned 32-bit numbers (0 for IPv6) */
  src = 0;
  dst = 0;
  /** where the source and destination addresses start in the buffer (4 or 16 bytes) */
  srcOffset = 0;
  dstOffset = 0;
  /** IPv6: the flow label (0 for IPv4) */
  flowLabel = 0;
  /** the transport data: buf[transport, end), padding after the IP length excluded */
  transport = 0;
  end = 0;
}

/**
 * Reads the packet at buf[offset, offset + length): an Ethernet frame carrying IPv4 or IPv6 when
 * `linkHeaderLength` is 14, a raw IPv4 packet when it is 0. Returns false for anything else, for a packet
 * whose lengths do not fit, and for an IPv4 fragment other than the first (it has no transport header).
 */
export function readIpPacket(
  buf: Uint8Array,
  offset: number,
  length: number,
  linkHeaderLength: number,
  out: IpView,
): boolean {
  const end = offset + length;
  const o = offset + linkHeaderLength;
  if (linkHeaderLength !== 14 && linkHeaderLength !== 0) return false;
  if (linkHeaderLength === 14) {
    if (length < 14) return false;
    const type = u16(buf, offset + 12);
    if (type === 0x86dd) return readIpv6(buf, o, end, out);
    if (type !== 0x0800) return false;
  }
  return readIpv4(buf, o, end, out);
}

function readIpv4(buf: Uint8Array, o: number, end: number, out: IpView): boolean {
  if (end - o < 20) return false;
  const vihl = buf[o]!;
  const ihl = (vihl & 0x0f) * 4;
  if (vihl >>> 4 !== 4 || ihl < 20) return false;
  const total = u16(buf, o + 2);
  if (total < ihl || o + total > end) return false;
  if (u16(buf, o + 6) & 0x1fff) return false;
  out.family = 4;
  out.protocol = buf[o + 9]!;
  out.ttl = buf[o + 8]!;
  out.src = u32(buf, o + 12);
  out.dst = u32(buf, o + 16);
  out.srcOffset = o + 12;
  out.dstOffset = o + 16;
  out.flowLabel = 0;
  out.transport = o + ihl;
  out.end = o + total;
  return true;
}

function readIpv6(buf: Uint8Array, o: number, end: number, out: IpView): boolean {
  if (end - o < 40 || buf[o]! >>> 4 !== 6) return false;
  const payloadEnd = o + 40 + u16(buf, o + 4);
  if (payloadEnd > end) return false;
  out.family = 6;
  out.protocol = buf[o + 6]!;
  out.ttl = buf[o + 7]!;
  out.src = 0;
  out.dst = 0;
  out.srcOffset = o + 8;
  out.dstOffset = o + 24;
  out.flowLabel = ((buf[o + 1]! & 0x0f) << 16) | u16(buf, o + 2);
  out.transport = o + 40;
  out.end = payloadEnd;
  return true;
}
