// Hand-made records for the tests that feed verdicts and metrics without a lab: one builder per record
// type, with values a real probe would give for that state, so a test names only what it is about.

import type { ArpRecord, DnsRecord, PortRecord } from "../../src/records";

const MAC = "02:00:00:00:00:01";

export function arpRecord(
  target: string,
  state: ArpRecord["state"] = "reply",
  extra: Partial<ArpRecord> = {},
): ArpRecord {
  const replied = state === "reply";
  return {
    type: "arp",
    target,
    interface: "eth0",
    state,
    mac: replied ? MAC : null,
    macs: replied ? [MAC] : [],
    conflict: false,
    rttMs: replied ? 0.25 : null,
    source: "198.51.100.11",
    gateway: null,
    // The host's own address is answered from its table, not asked.
    sent: state === "local" ? 0 : 1,
    protocol: target.includes(":") ? "ndp" : "arp",
    ...extra,
  };
}

export function portRecord(
  target: string,
  state: PortRecord["state"] = "open",
  port = 30000,
  extra: Partial<PortRecord> = {},
): PortRecord {
  const answered = state === "open" || state === "closed";
  return {
    type: "port",
    target,
    port,
    protocol: "tcp",
    state,
    reason: state === "open" ? "syn-ack" : state === "closed" ? "reset" : "no-response",
    ttl: answered ? 64 : null,
    rttMs: answered ? 0.1 : null,
    ...extra,
  };
}

export function dnsRecord(
  server: string,
  status: DnsRecord["status"] = "ok",
  answers: string[] = [],
  extra: Partial<DnsRecord> = {},
): DnsRecord {
  const ok = status === "ok";
  return {
    type: "dns",
    server,
    port: 53,
    name: "kubernetes.default.svc.cluster.local",
    qtype: "A",
    status,
    rcode: ok ? "NOERROR" : null,
    answers,
    transport: "udp",
    rttMs: ok ? 1 : null,
    truncated: false,
    flags: ok ? ["qr", "aa", "rd", "ra"] : [],
    attempts: 1,
    reason: status === "unreachable" ? "port-unreach" : null,
    from: null,
    error: null,
    ...extra,
  };
}
