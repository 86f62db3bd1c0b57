// The library: the same probes as the CLI, as typed async iterables, plus the building blocks.

export { TargetSet } from "./addr/target-set";
export type { CheckOptions, CheckRecord, CheckResult, CheckRun } from "./check/check";
export { check } from "./check/check";
export type {
  ClusterNode,
  NodeInput,
  NodePort,
  NodePortSpec,
  NotScanned,
} from "./check/nodes";
export { parseNodePort, parseNodes } from "./check/nodes";
export type { DnsRaceInput } from "./check/verdict-dnsrace";
export type {
  DnsExpectation,
  HostGwExpectation,
  NodePortExpectation,
  VerdictExpectation,
} from "./check/verdicts";
export { dnsVerdict, hostGwVerdict, nodePortVerdict } from "./check/verdicts";
export type { ProbeRun } from "./engine/probe-run";
export { EnvironmentError, UsageError } from "./errors";
export type { LinkAddress, LinkInfo } from "./net/links";
export { findLink, listLinks, listLinksAsync } from "./net/links";
export type { RouteDecision } from "./net/route";
export { lookupRoute, lookupRouteAsync, lookupRouteVia, lookupRouteViaAsync } from "./net/route";
export type { RouteResolver, RouteResolverOptions } from "./net/route-resolver";
export { createRouteResolver, createRouteResolverAsync } from "./net/route-resolver";
export * as packet from "./packet/index";
export type { ArpOptions } from "./probes/arp/arp";
export { ARP_DEFAULTS, arp } from "./probes/arp/arp";
export type { DnsOptions } from "./probes/dns/dns";
export { DNS_DEFAULTS, dns } from "./probes/dns/dns";
export type { DnsRaceOptions } from "./probes/dns/race";
export { dnsRace, RACE_DEFAULTS, RACE_MAX_PAIRS } from "./probes/dns/race";
export type { PingOptions, PingRun } from "./probes/icmp/ping";
export { PING_DEFAULTS, ping } from "./probes/icmp/ping";
export type { ScanOptions, ScanProgress, ScanRecord, ScanRun } from "./probes/scan/scan";
export { SCAN_DEFAULTS, scan } from "./probes/scan/scan";
export type {
  ArpRecord,
  DnsConsistencyRecord,
  DnsRacePairs,
  DnsRaceRecord,
  DnsRecord,
  HostRecord,
  PingRecord,
  PortRecord,
  SummaryRecord,
  VerdictEvidence,
  VerdictFamily,
  VerdictRecord,
  WireprobeRecord,
} from "./records";

export const version: string = (require("../package.json") as { version: string }).version;
