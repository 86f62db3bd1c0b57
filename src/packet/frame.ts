// Whole-frame decoding: walks Ethernet [802.1Q] -> ARP | IPv4 -> ICMP | TCP | UDP, and with `ipv6: true`
// IPv6 -> ICMPv6 | NDP | TCP | UDP, leaving the rest as payload.

import * as arp from "./arp";
import { DecodeError } from "./errors";
import * as ethernet from "./ethernet";
import * as icmp from "./icmp";
import * as icmpv6 from "./icmpv6";
import { decodeRange } from "./internal";
import * as ipv4 from "./ipv4";
import * as ipv6 from "./ipv6";
import * as ndp from "./ndp";
import * as tcp from "./tcp";
import * as udp from "./udp";

/**
 * "ethernet": frames from an AF_PACKET socket or a DLT_EN10MB capture; "ipv4": raw IP (DLT_RAW, raw sockets);
 * "ipv6": raw IPv6 (decoded as with `ipv6: true`).
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const datagram: Buffer; // read from a raw IPv4 socket: no Ethernet header
 * const linkType: packet.LinkType = "ipv4";
 * console.log(packet.decodeFrame(datagram, { linkType }).icmp?.type);
 * ```
 */
export type LinkType = "ethernet" | "ipv4" | "ipv6";

/**
 * Options of decodeFrame: what the frame starts with, where it is in the buffer, and what to check.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const frame: Buffer; // e.g. one frame of a pcap capture, starting at byte 16 of its record
 * const decoded = packet.decodeFrame(frame, { linkType: "ethernet", ipv6: true, offset: 16, verifyChecksums: false });
 * ```
 */
export interface DecodeFrameOptions {
  /** what the frame starts with: an Ethernet header, or an IPv4 or IPv6 header */
  linkType: LinkType;
  /**
   * Default true: IPv4 header, ICMP, TCP and UDP checksums must be right. Set false for frames this host sent
   * (captured before checksum offload filled them in) or when a bad checksum should not hide the packet.
   */
  verifyChecksums?: boolean;
  /** where the frame starts in the buffer, default 0 */
  offset?: number;
  /** frame length, default the rest of the buffer */
  length?: number;
  /**
   * Default false: an Ethernet frame of ethertype 0x86dd is left undecoded (its payload reported, as for
   * any unknown ethertype). True: it is decoded as IPv6 -> ICMPv6 (neighbour solicitations and
   * advertisements as `ndp`) | TCP | UDP, checksums over the IPv6 pseudo-header. Opt-in so that the IPv4
   * probes' receive loops see exactly what they saw before.
   */
  ipv6?: boolean;
}

/**
 * Every layer decodeFrame understood in one frame; a layer the frame does not have is absent.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * declare const buf: Buffer;
 * const f = packet.decodeFrame(buf, { linkType: "ethernet", ipv6: true });
 * if (f.tcp?.syn && f.tcp.ack) {
 *   console.log(`SYN-ACK from ${f.ipv4?.src ?? f.ipv6?.src}:${f.tcp.srcPort}`);
 * }
 * const data = buf.subarray(f.payload.offset, f.payload.offset + f.payload.length);
 * ```
 */
export interface DecodedFrame {
  /** the link type the frame was decoded as */
  linkType: LinkType;
  /** the Ethernet header (link type ethernet) */
  ethernet?: ethernet.EthernetHeader;
  /** an ARP packet */
  arp?: arp.ArpPacket;
  /** the IPv4 header */
  ipv4?: ipv4.Ipv4Header;
  /** an ICMP message (over IPv4) */
  icmp?: icmp.IcmpPacket;
  /** the IPv6 header, with its extension headers */
  ipv6?: ipv6.Ipv6Header;
  /** ICMPv6 messages other than neighbour solicitations and advertisements */
  icmpv6?: icmpv6.Icmpv6Packet;
  /** a neighbour solicitation or advertisement */
  ndp?: ndp.NdpMessage;
  /** the TCP header */
  tcp?: tcp.TcpHeader;
  /** the UDP header */
  udp?: udp.UdpHeader;
  /**
   * The bytes no decoded layer claimed: the unknown ethertype's or IP protocol's payload, the TCP/UDP data,
   * the ICMP data (echo data or quoted datagram), or the payload of an IPv4 fragment (not decoded further:
   * only a reassembled datagram has a verifiable transport header). Empty after ARP.
   */
  payload: {
    /** where those bytes start in the buffer */
    offset: number;
    /** how many there are */
    length: number;
  };
}

function walk(buf: Buffer, options: DecodeFrameOptions): DecodedFrame {
  const { linkType } = options;
  if (linkType !== "ethernet" && linkType !== "ipv4" && linkType !== "ipv6") {
    throw new DecodeError("frame", "bad-argument", `unknown link type ${String(linkType)}`);
  }
  const start = options.offset ?? 0;
  const end = decodeRange("frame", buf, start, options.length);
  const verify = options.verifyChecksums !== false;
  const frame: DecodedFrame = { linkType, payload: { offset: start, length: end - start } };

  let ipOffset = start;
  let ipLength = end - start;
  if (linkType === "ipv6") {
    walk6(buf, frame, ipOffset, ipLength, verify);
    return frame;
  }
  if (linkType === "ethernet") {
    const eth = ethernet.decode(buf, start, end - start);
    frame.ethernet = eth;
    frame.payload = { offset: eth.payloadOffset, length: eth.payloadLength };
    if (eth.ethertype === ethernet.ETHERTYPE_ARP) {
      frame.arp = arp.decode(buf, eth.payloadOffset, eth.payloadLength);
      frame.payload = { offset: eth.payloadOffset + arp.LENGTH, length: 0 };
      return frame;
    }
    if (eth.ethertype === ethernet.ETHERTYPE_IPV6 && options.ipv6 === true) {
      walk6(buf, frame, eth.payloadOffset, eth.payloadLength, verify);
      return frame;
    }
    if (eth.ethertype !== ethernet.ETHERTYPE_IPV4) return frame;
    ipOffset = eth.payloadOffset;
    ipLength = eth.payloadLength;
  }

  const ip = ipv4.decode(buf, ipOffset, ipLength, { verifyChecksum: verify });
  frame.ipv4 = ip;
  frame.payload = { offset: ip.payloadOffset, length: ip.payloadLength };
  if (ip.moreFragments || ip.fragmentOffset !== 0) return frame;

  const o = ip.payloadOffset;
  const n = ip.payloadLength;
  switch (ip.protocol) {
    case ipv4.PROTOCOL_ICMP: {
      const m = icmp.decode(buf, o, n, { verifyChecksum: verify });
      frame.icmp = m;
      frame.payload = { offset: m.payloadOffset, length: m.payloadLength };
      break;
    }
    case ipv4.PROTOCOL_TCP: {
      const seg = tcp.decode(buf, o, n, { srcIp: ip.srcInt, dstIp: ip.dstInt, verifyChecksum: verify });
      frame.tcp = seg;
      frame.payload = { offset: seg.payloadOffset, length: seg.payloadLength };
      break;
    }
    case ipv4.PROTOCOL_UDP: {
      const d = udp.decode(buf, o, n, { srcIp: ip.srcInt, dstIp: ip.dstInt, verifyChecksum: verify });
      frame.udp = d;
      frame.payload = { offset: d.payloadOffset, length: d.payloadLength };
      break;
    }
  }
  return frame;
}

function walk6(buf: Buffer, frame: DecodedFrame, offset: number, length: number, verify: boolean): void {
  const ip = ipv6.decode(buf, offset, length);
  frame.ipv6 = ip;
  frame.payload = { offset: ip.upperOffset, length: ip.upperLength };
  // Not the first fragment, or a first fragment whose upper-layer checksum covers bytes not here.
  if (ip.fragmentId !== null) return;
  const o = ip.upperOffset;
  const n = ip.upperLength;
  const src = ip.srcBytes;
  const dst = ip.dstBytes;
  switch (ip.protocol) {
    case ipv6.NEXT_HEADER_ICMPV6: {
      const type = n > 0 ? buf[o] : -1;
      if (type === ndp.TYPE_NEIGHBOR_SOLICITATION || type === ndp.TYPE_NEIGHBOR_ADVERTISEMENT) {
        const m = ndp.decode(buf, o, n, { src, dst, verifyChecksum: verify });
        frame.ndp = m;
        frame.payload = { offset: o + n, length: 0 };
        break;
      }
      const m = icmpv6.decode(buf, o, n, { src, dst, verifyChecksum: verify });
      frame.icmpv6 = m;
      frame.payload = { offset: m.payloadOffset, length: m.payloadLength };
      break;
    }
    case ipv6.NEXT_HEADER_TCP: {
      const seg = tcp.decode(buf, o, n, { srcIp6: src, dstIp6: dst, verifyChecksum: verify });
      frame.tcp = seg;
      frame.payload = { offset: seg.payloadOffset, length: seg.payloadLength };
      break;
    }
    case ipv6.NEXT_HEADER_UDP: {
      const d = udp.decode(buf, o, n, { srcIp6: src, dstIp6: dst, verifyChecksum: verify });
      frame.udp = d;
      frame.payload = { offset: d.payloadOffset, length: d.payloadLength };
      break;
    }
  }
}

/**
 * Decodes every layer of the frame at buf[offset, offset + length) it knows. Throws only DecodeError, for
 * any input: the first layer that does not decode stops the walk (a frame is either understood or refused,
 * never half reported). Offsets in the result index `buf`.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const addresses = { src: "198.51.100.10", dst: "198.51.100.11" };
 * const syn = packet.tcp.encode({ srcPort: 40000, dstPort: 443, seq: 1, syn: true }, undefined, 0, addresses);
 * const ip = packet.ipv4.encode({ ...addresses, protocol: packet.ipv4.PROTOCOL_TCP, payloadLength: syn.length });
 * const frame = packet.decodeFrame(Buffer.concat([ip, syn]), { linkType: "ipv4" });
 * console.log(frame.ipv4?.dst, frame.tcp?.dstPort, frame.tcp?.syn); // 198.51.100.11 443 true
 * ```
 */
export function decodeFrame(buf: Buffer, options: DecodeFrameOptions): DecodedFrame {
  if (typeof options !== "object" || options === null) {
    throw new DecodeError("frame", "bad-argument", "options with a linkType are required");
  }
  try {
    return walk(buf, options);
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    // The promise is "only DecodeError"; code "internal" marks a decoder bug for the fuzz test to find.
    throw new DecodeError("frame", "internal", `unexpected ${String(err)}`, { cause: err });
  }
}
