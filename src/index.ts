// The library: the same probes as the CLI, as typed async iterables, plus the building blocks.

export type { CheckOptions, CheckRecord, CheckResult, CheckRun } from "./check/check";
export { check } from "./check/check";
export type { DnsExpectation, HostGwExpectation, VerdictExpectation } from "./check/verdicts";
export { dnsVerdict, hostGwVerdict, nodePortVerdict } from "./check/verdicts";
export { EnvironmentError, UsageError } from "./errors";
export type { LinkAddress, LinkInfo } from "./net/links";
export { findLink, listLinks } from "./net/links";
export type { RouteDecision } from "./net/route";
export { lookupRoute, lookupRouteVia } from "./net/route";
export type { RouteResolver, RouteResolverOptions } from "./net/route-resolver";
export { createRouteResolver } from "./net/route-resolver";
export * as packet from "./packet/index";
export type { ArpOptions, ProbeRun } from "./probe/arp";
export { ARP_DEFAULTS, arp } from "./probe/arp";
export type { DnsOptions } from "./probe/dns";
export { DNS_DEFAULTS, dns } from "./probe/dns";
export type { PingOptions, PingRun } from "./probe/ping";
export { PING_DEFAULTS, ping } from "./probe/ping";
export type { ScanOptions, ScanProgress, ScanRecord, ScanRun } from "./probe/scan";
export { SCAN_DEFAULTS, scan } from "./probe/scan";
export type {
  ArpRecord,
  DnsConsistencyRecord,
  DnsRecord,
  HostRecord,
  PingRecord,
  PortRecord,
  SummaryRecord,
  VerdictEvidence,
  VerdictRecord,
  WireprobeRecord,
} from "./records";
export { TargetSet } from "./targets/target-set";

export const version: string = (require("../package.json") as { version: string }).version;
