// The SYN scan's reading of ICMPv6 errors without a lab: nmap -6 -sS's mapping (scan_engine_raw.cc, reason
// names from portreasons.cc) through the answer reader and the kernel filter, the 4-bit TCP outcome codes of
// IPv6 hosts (which reuse the nibbles of the outcomes only ICMP gives) and the scan store reading each host's
// nibbles with its own family's table in every output.

import t from "tap";
import { formatIpv6, toIpv6Bytes } from "../../src/addr/ipv6";
import { parsePorts } from "../../src/addr/ports";
import { tcp6ScanReplyFilter } from "../../src/net/bpf";
import { nmapGrepable } from "../../src/output/nmap-grepable";
import type { ScanReportMeta } from "../../src/output/nmap-meta";
import { nmapXml } from "../../src/output/nmap-xml";
import { scanReport } from "../../src/output/scan-report";
import { ScanStore } from "../../src/output/scan-store";
import * as icmpv6 from "../../src/packet/icmpv6";
import * as ipv6 from "../../src/packet/ipv6";
import { syn6PacketLength, writeSyn6Packet } from "../../src/packet/tcp";
import {
  icmpOutcome,
  icmpv6Outcome,
  OUTCOME_NONE,
  outcomeOf,
  outcomeReason,
  outcomeState,
  tcpNibble,
  tcpOutcomeOfNibble,
  udpNibble,
} from "../../src/port-outcomes";
import { connectOutcome } from "../../src/probes/connect/connect-scan";
import { Answer6, readAnswer6 } from "../../src/probes/syn/answer";
import type { PortRecord } from "../../src/records";
import { runBpf } from "../helpers/bpf";

const US6 = toIpv6Bytes("2001:db8:a::10");
const TARGET6 = toIpv6Bytes("2001:db8:b::20");
const ROUTER6 = toIpv6Bytes("2001:db8:a::1");
const SEQ = 0x12345678;

/** An IPv6 packet in an Ethernet frame. */
function frame6(next: number, upper: Buffer, src: Uint8Array, dst: Uint8Array): Buffer {
  const header = ipv6.encode({ nextHeader: next, payloadLength: upper.length, src, dst, hopLimit: 63 });
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x86dd, 12);
  return Buffer.concat([eth, header, upper]);
}

/** Our SYN to TARGET6:8080, quoted whole by an ICMPv6 error of `type`/`code` from `from`. */
function errorFrame(type: number, code: number, from = ROUTER6): Buffer {
  const syn = Buffer.alloc(syn6PacketLength());
  writeSyn6Packet(syn, 0, { src: US6, dst: TARGET6, srcPort: 40000, dstPort: 8080, seq: SEQ });
  const message = icmpv6.encode({ kind: "other", type, code, payload: syn }, undefined, 0, {
    src: from,
    dst: US6,
  });
  return frame6(58, message, from, US6);
}

/** nmap -6 -sS's verdict per ICMPv6 type/code (null: nmap skips the packet, the probe is retried). */
const NMAP: Array<[number, number, string | null, string]> = [
  [1, 0, "filtered/no-route", "no route to destination"],
  [1, 1, "filtered/admin-prohibited", "administratively prohibited"],
  [1, 2, "filtered/beyond-scope", "beyond scope of source address"],
  [1, 3, "filtered/host-unreach", "address unreachable"],
  [1, 4, "filtered/port-unreach", "port unreachable (from the target or a router alike, for TCP)"],
  [1, 5, "filtered/admin-prohibited", "source address failed ingress/egress policy"],
  [1, 6, "filtered/reject-route", "reject route to destination"],
  [1, 7, null, "an unassigned unreachable code"],
  [4, 0, "open/param-problem", "parameter problem: erroneous header field"],
  [4, 1, "filtered/param-problem", "parameter problem: unrecognized next header"],
  [4, 2, null, "parameter problem: unrecognized IPv6 option"],
  [3, 0, null, "time exceeded in transit"],
  [3, 1, null, "fragment reassembly time exceeded"],
  [2, 0, null, "packet too big"],
];

t.test("ICMPv6 errors about a SYN: nmap -6 -sS's state and reason", async (t) => {
  const a = new Answer6();
  for (const [type, code, expected, what] of NMAP) {
    const name = `${type}/${code} (${what})`;
    const outcome = icmpv6Outcome(type, code);
    if (expected === null) {
      t.equal(outcome, OUTCOME_NONE, `${name}: decides nothing`);
      const f = errorFrame(type, code);
      t.notOk(readAnswer6(f, 0, f.length, a), `${name}: not an answer`);
      continue;
    }
    t.equal(`${outcomeState(outcome)}/${outcomeReason(outcome)}`, expected, name);
    for (const from of [ROUTER6, TARGET6]) {
      const f = errorFrame(type, code, from);
      t.ok(readAnswer6(f, 0, f.length, a), `${name} from ${formatIpv6(from)}: an answer`);
      t.equal(`${outcomeState(a.outcome)}/${outcomeReason(a.outcome)}`, expected);
      t.same(
        [formatIpv6(f, a.targetOffset), a.port, formatIpv6(f, a.fromOffset)],
        ["2001:db8:b::20", 8080, formatIpv6(from)],
      );
      t.same([a.echoed, a.tcp], [SEQ, false], "the quoted sequence number");
    }
    t.ok(tcpNibble(outcome, true) > 0, `${name}: the outputs can keep it for an IPv6 host`);
  }
  for (let code = 7; code < 256; code++) t.equal(icmpv6Outcome(1, code), OUTCOME_NONE, `1/${code}`);
  for (let code = 2; code < 256; code++) t.equal(icmpv6Outcome(4, code), OUTCOME_NONE, `4/${code}`);
  for (const type of [0, 2, 3, 5, 128, 129, 135, 136, 255])
    for (const code of [0, 1, 4]) t.equal(icmpv6Outcome(type, code), OUTCOME_NONE, `type ${type}`);
});

t.test("the SYN scan's IPv6 kernel filter passes the errors nmap reads, and no others", async (t) => {
  const filter = tcp6ScanReplyFilter(US6, 40000, 1);
  for (const [type, code] of [
    [1, 0],
    [1, 4],
    [4, 0],
    [4, 1],
  ] as const)
    t.ok(runBpf(filter, errorFrame(type, code)) > 0, `${type}/${code} passes`);
  t.equal(runBpf(filter, errorFrame(3, 0)), 0, "time exceeded: nmap -6 skips it");
  t.equal(runBpf(filter, errorFrame(2, 0)), 0, "packet too big: nmap -6 skips it");
});

const ICMPV6_ONLY = ["no-route", "beyond-scope", "reject-route"];
const ICMP_ONLY = ["net-prohibited", "host-prohibited", "proto-unreach", "time-exceeded"];

t.test("TCP nibbles: IPv4 hosts' are the codes, IPv6 hosts' go through their own table", async (t) => {
  for (let n = 0; n < 15; n++) {
    t.equal(tcpNibble(n, false), n, `IPv4: code ${n} is nibble ${n}`);
    t.equal(tcpOutcomeOfNibble(n, false), n);
  }
  t.equal(tcpOutcomeOfNibble(15, false), OUTCOME_NONE, "IPv4: nibble 15 is unused");
  const seen = new Set<number>();
  for (let n = 0; n < 16; n++) {
    const code = tcpOutcomeOfNibble(n, true);
    t.equal(tcpNibble(code, true), n, `IPv6: nibble ${n} (${n ? outcomeReason(code) : "none"}) round trips`);
    seen.add(code);
  }
  t.equal(seen.size, 16, "IPv6: 16 distinct outcomes");
  // Every outcome a TCP port can end with, per family: it has a nibble and comes back as itself.
  const tcpAnswers = [
    outcomeOf("open", "syn-ack"),
    outcomeOf("open", "split-handshake-syn"),
    outcomeOf("closed", "reset"),
  ];
  const noResponse = outcomeOf("filtered", "no-response");
  const errnos = ["ECONNREFUSED", "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH", "ENETDOWN", "EACCES", "EPERM"];
  const connect = errnos.map(connectOutcome).filter((c) => c !== OUTCOME_NONE);
  t.ok(connect.length > 0);
  const icmp: number[] = [];
  for (const code of [0, 1, 2, 3, 9, 10, 13]) icmp.push(icmpOutcome(3, code));
  icmp.push(icmpOutcome(11, 0));
  const v6: number[] = [];
  for (let code = 0; code < 8; code++) v6.push(icmpv6Outcome(1, code), icmpv6Outcome(4, code));
  for (const [family, outcomes] of [
    ["IPv4", [...tcpAnswers, noResponse, ...connect, ...icmp]],
    ["IPv6", [...tcpAnswers, noResponse, ...connect, ...v6.filter((c) => c !== OUTCOME_NONE)]],
  ] as const) {
    const ipv6Host = family === "IPv6";
    for (const code of outcomes) {
      const n = tcpNibble(code, ipv6Host);
      t.ok(n > 0 && n < 16, `${family}: ${outcomeState(code)}/${outcomeReason(code)} has nibble ${n}`);
      t.equal(tcpOutcomeOfNibble(n, ipv6Host), code);
    }
  }
  for (const reason of ICMPV6_ONLY)
    t.equal(tcpNibble(outcomeOf("filtered", reason), false), -1, `IPv4 never says ${reason}`);
  t.equal(tcpNibble(outcomeOf("open", "param-problem"), false), -1, "IPv4 never says open/param-problem");
  for (const reason of ICMP_ONLY)
    t.equal(
      tcpNibble(outcomeOf("filtered", reason), true),
      -1,
      `nmap -6 never says ${reason} for a TCP port`,
    );
  t.equal(udpNibble(outcomeOf("open", "param-problem")), -1, "open/param-problem is TCP's only");
});

function port(target: string, p: number, state: PortRecord["state"], reason: string): PortRecord {
  return { type: "port", target, port: p, protocol: "tcp", state, reason, ttl: 64, rttMs: 0.2 };
}

t.test("the store reads the same nibbles by each host's family, in every output", async (t) => {
  const store = new ScanStore(parsePorts("22,80"));
  // Pairs that share their 4-bit codes: net-prohibited / no-route, host-prohibited / beyond-scope,
  // time-exceeded / reject-route, proto-unreach / filtered param-problem.
  const v4 = ["198.51.100.21", "198.51.100.22"];
  const v6 = ["2001:db8:b::21", "2001:db8:b::22"];
  const pairs: Array<[[string, string], [string, string], [string, string], [string, string]]> = [
    [
      ["filtered", "net-prohibited"],
      ["filtered", "time-exceeded"],
      ["filtered", "no-route"],
      ["filtered", "reject-route"],
    ],
    [
      ["filtered", "host-prohibited"],
      ["filtered", "proto-unreach"],
      ["filtered", "beyond-scope"],
      ["filtered", "param-problem"],
    ],
  ];
  const want: Record<string, string> = {};
  pairs.forEach(([a22, a80, b22, b80], i) => {
    for (const [target, p, [state, reason]] of [
      [v4[i]!, 22, a22],
      [v4[i]!, 80, a80],
      [v6[i]!, 22, b22],
      [v6[i]!, 80, b80],
    ] as const) {
      store.add(port(target, p, state as PortRecord["state"], reason));
      want[`${target} ${p}`] = `${state}/${reason}`;
    }
    t.equal(
      tcpNibble(outcomeOf(...a22), false),
      tcpNibble(outcomeOf(...b22), true),
      `${a22[1]} (IPv4) and ${b22[1]} (IPv6) share a nibble`,
    );
  });
  store.add(port("2001:db8:b::23", 22, "open", "param-problem"));
  store.add(port("2001:db8:b::23", 80, "closed", "reset"));
  want["2001:db8:b::23 22"] = "open/param-problem";
  want["2001:db8:b::23 80"] = "closed/reset";
  const stored: Record<string, string> = {};
  for (const host of store.hosts()) {
    for (let pi = 0; pi < 2; pi++) {
      const code = host.outcome(pi);
      stored[`${host.address} ${store.allPorts[pi]}`] = `${outcomeState(code)}/${outcomeReason(code)}`;
    }
  }
  t.same(stored, want, "every host's outcomes read back as added");
  // The report renders a host's text once per pattern of nibbles: the families must not share one.
  const report = [...scanReport(store, undefined, false)].join("");
  const fromReport: Record<string, string> = {};
  for (const block of report.split("Scan report for ").slice(1)) {
    const addr = block.slice(0, block.indexOf("\n"));
    for (const m of block.matchAll(/^(\d+)\/tcp +(\S+) +\S+ +(\S+)$/gm))
      fromReport[`${addr} ${m[1]}`] = `${m[2]}/${m[3]}`;
  }
  t.same(fromReport, want, "the report");
  const meta: ScanReportMeta = {
    args: "wireprobe scan -p 22,80",
    version: "0.1.0",
    start: new Date(0),
    end: new Date(1000),
    ports: store.ports,
    method: "syn",
    openOnly: false,
    summary: undefined,
  };
  const xml = [...nmapXml(store, meta)].join("");
  const fromXml: Record<string, string> = {};
  for (const [block] of xml.matchAll(/<host\b[\s\S]*?<\/host>/g)) {
    const addr = /<address addr="([^"]+)"/.exec(block)?.[1];
    for (const m of block.matchAll(
      /<port protocol="tcp" portid="(\d+)"><state state="([^"]+)" reason="([^"]+)"/g,
    ))
      fromXml[`${addr} ${m[1]}`] = `${m[2]}/${m[3]}`;
  }
  t.same(fromXml, want, "-oX");
  const grepable = [...nmapGrepable(store, meta)].join("");
  t.match(
    grepable,
    /Host: 2001:db8:b::23 \(\)\tPorts: 22\/open\/tcp\/\/ssh\/\/\/, 80\/closed\/tcp\/\/http\/\/\//,
  );
  t.match(grepable, /Host: 198\.51\.100\.21 \(\)\tPorts: 22\/filtered\/tcp/);
});
