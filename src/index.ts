/**
 * The library: the probes of the command line ({@link arp}, {@link scan}, {@link dns}, {@link ping} and
 * {@link check}) as typed async iterables of the same JSON records the commands write, the verdicts as plain
 * functions of records, the kernel's links and route decisions, target sets, and the packet codecs under it
 * all ({@link packet}). Linux only. Most probes need root or CAP_NET_RAW (without it, ping falls back to an
 * unprivileged ICMP socket and a scan to TCP connects); `netns` runs a probe inside a network namespace
 * (entering one needs root) without moving the process.
 *
 * @example
 * ```ts
 * import { arp, ping, scan } from "wireprobe";
 *
 * for await (const r of arp(["198.51.100.0/24"], { netns: "node1" })) if (r.state === "reply") console.log(r.target, r.mac);
 * for await (const r of scan(["198.51.100.11"], { ports: [22, 80], netns: "node1" })) console.log(r);
 * for await (const p of ping("2001:db8::1", { count: 2 })) console.log(p.state, p.rttMs?.avg);
 * ```
 *
 * @packageDocumentation
 */

// Its declarations use Node's types (Buffer, AbortSignal): the reference below is kept in dist/index.d.ts, so a
// consumer whose tsconfig lists no `types` (TypeScript 6's default) still gets them, from the @types/node this
// package depends on.
/// <reference types="node" preserve="true" />

export type { IpAddress, Ipv4Address, Ipv6Address } from "./addr/ip";
export type { NameLookup } from "./addr/resolve";
export type { TargetParseOptions } from "./addr/target-set";
export { TargetSet } from "./addr/target-set";
export type { Agent, AgentOptions, AgentPeer, AgentRefusal, AgentRound } from "./agent/agent";
export { startAgent } from "./agent/agent";
export { parseDuration } from "./agent/duration";
export type { CheckOptions, CheckRecord, CheckResult, CheckRun } from "./check/check";
export { check } from "./check/check";
export type {
  ClusterNode,
  Family,
  NodeInput,
  NodePort,
  NodePortSpec,
  NotScanned,
} from "./check/nodes";
export { parseNodePort, parseNodes } from "./check/nodes";
export type { DnsRaceInput } from "./check/verdict-dnsrace";
export type { MtuExpectation, Overlay, OverlayOverhead } from "./check/verdict-mtu";
export { mtuVerdict, OVERLAY_OVERHEAD, parseOverlay } from "./check/verdict-mtu";
export type { RoutesExpectation } from "./check/verdict-routes";
export { routesVerdict } from "./check/verdict-routes";
export type {
  DnsExpectation,
  HostGwExpectation,
  NodePortExpectation,
  VerdictExpectation,
} from "./check/verdicts";
export { dnsVerdict, hostGwVerdict, nodePortVerdict } from "./check/verdicts";
export type { ProbeRun } from "./engine/probe-run";
export { EnvironmentError, UsageError } from "./errors";
export type { NeighbourEntry } from "./native/types";
export type { GatewayRoute, RoutingSnapshot, TableSelection } from "./net/gateway-routes";
export { readRoutingSnapshot } from "./net/gateway-routes";
export type { LinkAddress, LinkInfo } from "./net/links";
export { findLink, listLinks, listLinksAsync } from "./net/links";
export type { RouteDecision, RouteDestination, UnpinnedRoute } from "./net/route";
export { lookupRoute, lookupRouteAsync, lookupRouteVia, lookupRouteViaAsync } from "./net/route";
export type { RouteResolver, RouteResolverOptions } from "./net/route-resolver";
export { createRouteResolver, createRouteResolverAsync } from "./net/route-resolver";
/**
 * The packet codecs under the probes, for programs that build or read their own packets: one namespace per
 * layer (`packet.ethernet`, `arp`, `ipv4`, `ipv6`, `icmp`, `icmpv6`, `ndp`, `tcp`, `udp`; addresses in
 * `packet.address` and `packet.ipv6Address`, checksums in `packet.checksum`) with `encode` / `decode` /
 * `encodingLength`, allocation-free fast paths for hot loops, and `packet.decodeFrame` for a whole frame.
 * Decoders throw only `packet.DecodeError`, whatever the bytes.
 *
 * @example
 * ```ts
 * import { packet } from "wireprobe";
 *
 * // an ARP request frame, as a sweep writes it (no allocation), read back layer by layer
 * const frame = Buffer.alloc(packet.arp.REQUEST_FRAME_LENGTH);
 * const srcMac = packet.address.parseMac("02:00:00:00:00:01");
 * const { ipv4ToInt } = packet.address;
 * packet.arp.writeArpRequestFrame(frame, 0, srcMac, ipv4ToInt("198.51.100.1"), ipv4ToInt("198.51.100.11"));
 * const decoded = packet.decodeFrame(frame, { linkType: "ethernet" });
 * console.log(decoded.ethernet?.dst, decoded.arp?.op, decoded.arp?.targetIp); // ff:ff:ff:ff:ff:ff 1 198.51.100.11
 * ```
 */
export * as packet from "./packet/index";
export type { ArpOptions } from "./probes/arp/arp";
export { ARP_DEFAULTS, arp } from "./probes/arp/arp";
export type { DnsOptions } from "./probes/dns/dns";
export { DNS_DEFAULTS, dns } from "./probes/dns/dns";
export type { DnsRaceOptions } from "./probes/dns/race";
export { dnsRace, RACE_DEFAULTS, RACE_MAX_PAIRS } from "./probes/dns/race";
export type { PingOptions, PingRun } from "./probes/icmp/ping";
export { PING_DEFAULTS, ping } from "./probes/icmp/ping";
export type { PingMode } from "./probes/icmp/ping-socket";
export type { MtuOptions } from "./probes/mtu/mtu";
export { MTU_DEFAULTS, mtu } from "./probes/mtu/mtu";
export type { RoutesOptions } from "./probes/routes/routes";
export { routes } from "./probes/routes/routes";
export type { ScanOptions, ScanProgress, ScanRecord, ScanRun } from "./probes/scan/scan";
export { SCAN_DEFAULTS, scan } from "./probes/scan/scan";
export type {
  ArpRecord,
  DnsConsistencyRecord,
  DnsRacePairs,
  DnsRaceRecord,
  DnsRecord,
  HostRecord,
  MtuRecord,
  PingRecord,
  PortRecord,
  RouteRecord,
  SummaryRecord,
  VerdictEvidence,
  VerdictFamily,
  VerdictRecord,
  WireprobeRecord,
} from "./records";

/**
 * The package's version, as in its package.json.
 *
 * @example
 * ```ts
 * import { version } from "wireprobe";
 *
 * console.log(`wireprobe ${version}`);
 * ```
 */
export const version: string = (require("../package.json") as { version: string }).version;
