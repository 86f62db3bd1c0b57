// Packet codecs: one namespace per layer, plus the error type and the frame walker at the top level.

/**
 * IPv4 addresses and MACs: strict parsing (no leading zeros), formatting, and number forms for hot loops.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const n = packet.address.ipv4ToInt("198.51.100.1");
 * console.log(packet.address.intToIpv4(n + 1), packet.address.macToString(packet.address.parseMac("02-00-00-AB-CD-EF")));
 * ```
 */
export * as address from "../addr/address";
/**
 * IPv6 addresses: parsing (with zones and IPv4-mapped forms), RFC 5952 text, prefixes and ranges, multicast
 * groups.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const bytes = packet.ipv6Address.toIpv6Bytes("2001:DB8:0:0::1");
 * console.log(packet.ipv6Address.formatIpv6(bytes)); // 2001:db8::1
 * ```
 */
export * as ipv6Address from "../addr/ipv6";
/**
 * ARP (RFC 826) for Ethernet and IPv4: encode/decode, and the allocation-free request writer and reply reader
 * of a sweep.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const request = packet.arp.encode({ op: packet.arp.OP_REQUEST, senderMac: "02:00:00:00:00:01", senderIp: "198.51.100.1", targetMac: "00:00:00:00:00:00", targetIp: "198.51.100.11" });
 * console.log(packet.arp.decode(request).targetIp); // 198.51.100.11
 * ```
 */
export * as arp from "./arp";
/**
 * The internet checksum (RFC 1071) and the IPv4 and IPv6 pseudo-header sums of TCP, UDP and ICMPv6.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const header = packet.ipv4.encode({ src: "198.51.100.10", dst: "198.51.100.11", protocol: packet.ipv4.PROTOCOL_UDP });
 * console.log(packet.checksum.internetChecksum(header) === 0); // true: the header carries its checksum
 * ```
 */
export * as checksum from "./checksum";
export { DecodeError, type DecodeErrorCode, type DecodeLayer } from "./errors";
/**
 * Ethernet II headers, with one 802.1Q tag.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const header = packet.ethernet.encode({ dst: "ff:ff:ff:ff:ff:ff", src: "02:00:00:00:00:01", ethertype: packet.ethernet.ETHERTYPE_ARP });
 * console.log(packet.ethernet.decode(header).src); // 02:00:00:00:00:01
 * ```
 */
export * as ethernet from "./ethernet";
export { type DecodedFrame, type DecodeFrameOptions, decodeFrame, type LinkType } from "./frame";
/**
 * ICMP over IPv4 (RFC 792): echo, and the errors (destination unreachable, time exceeded) with the datagram
 * they quote decoded far enough to match a probe.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const m = packet.icmp.decode(packet.icmp.encode({ kind: "echo-request", id: 1, seq: 2 }));
 * console.log(m.kind); // echo-request
 * ```
 */
export * as icmp from "./icmp";
/**
 * ICMPv6 (RFC 4443): echo, and the errors (destination unreachable, packet too big, time exceeded, parameter
 * problem) with the packet they quote; checksums over the IPv6 pseudo-header.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const ip = { src: "2001:db8::10", dst: "2001:db8::11" };
 * const bytes = packet.icmpv6.encode({ kind: "echo-request", id: 1, seq: 2 }, undefined, 0, ip);
 * console.log(packet.icmpv6.decode(bytes).kind); // echo-request
 * ```
 */
export * as icmpv6 from "./icmpv6";
/**
 * IPv4 headers (RFC 791); options are kept as raw bytes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const header = packet.ipv4.encode({ src: "198.51.100.10", dst: "198.51.100.11", protocol: packet.ipv4.PROTOCOL_TCP, ttl: 32 });
 * console.log(packet.ipv4.decode(header).ttl); // 32
 * ```
 */
export * as ipv4 from "./ipv4";
/**
 * IPv6 headers (RFC 8200): the fixed header, and a decoder that walks the extension headers to the upper
 * layer.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const header = packet.ipv6.encode({ src: "2001:db8::10", dst: "2001:db8::11", nextHeader: packet.ipv6.NEXT_HEADER_NONE });
 * console.log(packet.ipv6.decode(header).dst); // 2001:db8::11
 * ```
 */
export * as ipv6 from "./ipv6";
/**
 * Neighbour discovery (RFC 4861): solicitations and advertisements, IPv6's ARP, and the allocation-free frame
 * writer and reader of a sweep.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const bytes = packet.ndp.encode({ kind: "neighbor-solicitation", target: "2001:db8::11", sourceLinkLayer: "02:00:00:00:00:01" });
 * console.log(packet.ndp.decode(bytes).target); // 2001:db8::11
 * ```
 */
export * as ndp from "./ndp";
/**
 * TCP headers (RFC 9293) with options, and the one-call IPv4 and IPv6 SYN writers of a scan.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const segment = packet.tcp.encode({ srcPort: 40000, dstPort: 443, syn: true, options: [{ kind: "mss", value: 1460 }] });
 * console.log(packet.tcp.decode(segment).options); // [{ kind: "mss", value: 1460 }]
 * ```
 */
export * as tcp from "./tcp";
/**
 * UDP datagrams (RFC 768), and the one-call IPv4 and IPv6 datagram writers of a UDP scan.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * const datagram = packet.udp.encode({ srcPort: 40000, dstPort: 53, payload: Buffer.from("query") });
 * console.log(packet.udp.decode(datagram).length); // 13
 * ```
 */
export * as udp from "./udp";
