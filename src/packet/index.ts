// Packet codecs: one namespace per layer, plus the error type and the frame walker at the top level.

export * as address from "../addr/address";
export * as ipv6Address from "../addr/ipv6";
export * as arp from "./arp";
export * as checksum from "./checksum";
export { DecodeError, type DecodeErrorCode, type DecodeLayer } from "./errors";
export * as ethernet from "./ethernet";
export { type DecodedFrame, type DecodeFrameOptions, decodeFrame, type LinkType } from "./frame";
export * as icmp from "./icmp";
export * as icmpv6 from "./icmpv6";
export * as ipv4 from "./ipv4";
export * as ipv6 from "./ipv6";
export * as ndp from "./ndp";
export * as tcp from "./tcp";
export * as udp from "./udp";
