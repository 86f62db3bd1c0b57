// The UDP scan's pieces that need no root: T:/U: port lists as nmap reads them, UDP service names and top
// ports from nmap-services, the probe datagram (checksums checked by an independent decoder), the payloads,
// the answer classification (nmap's -sU mapping), and the scan store keeping TCP and UDP ports apart.

import t from "tap";
import { parsePortLists, parsePorts, topPorts } from "../../src/addr/ports";
import { serviceName } from "../../src/addr/top-ports";
import { scanReplyFilter } from "../../src/net/bpf";
import { nmapGrepable } from "../../src/output/nmap-grepable";
import { scanReport } from "../../src/output/scan-report";
import { ScanStore } from "../../src/output/scan-store";
import * as icmp from "../../src/packet/icmp";
import * as ipv4 from "../../src/packet/ipv4";
import * as udp from "../../src/packet/udp";
import {
  outcomeOf,
  outcomeReason,
  outcomeState,
  udpNibble,
  udpOutcomeOfNibble,
} from "../../src/port-outcomes";
import { readUdpAnswer, UdpAnswer } from "../../src/probes/udp/answer";
import { udpPayload } from "../../src/probes/udp/payloads";
import { LIMITER_REFILL_MS, retriedAgain } from "../../src/probes/udp/udp-scan";
import type { PortRecord } from "../../src/records";

const US = 0xc6336410; // 198.51.100.16
const TARGET = 0xc6336415; // 198.51.100.21

t.test("T: and U: sections, as nmap reads -p", async (t) => {
  const both = parsePortLists("T:80,443,U:53,161", ["tcp", "udp"]);
  t.same([...both.tcp], [80, 443]);
  t.same([...both.udp], [53, 161]);
  const shared = parsePortLists("22,U:53", ["tcp", "udp"]);
  t.same([...shared.tcp], [22], "before any prefix: every protocol scanned");
  t.same([...shared.udp], [22, 53]);
  t.same([...parsePortLists("domain", ["udp"]).udp], [53], "UDP service names from nmap-services");
  t.same([...parsePortLists("snmp,ntp", ["udp"]).udp], [123, 161]);
  t.throws(() => parsePortLists("U:53", ["tcp"]), /UDP needs -sU/, "U: without -sU");
  t.throws(() => parsePortLists("T:80", ["udp"]), /only UDP ports \(U:\).*-sS or -sT/, "T: with -sU only");
  t.throws(() => parsePortLists("T:80", ["tcp", "udp"]), /no UDP ports/);
  t.throws(() => parsePorts("S:80"), { name: "UsageError" });
  t.same([...parsePorts("T:ssh,https-alt")], [22, 8443], "the TCP-only parser is as before");
});

t.test("UDP service names and top ports from nmap-services", async (t) => {
  t.equal(serviceName(53, "udp"), "domain");
  t.equal(serviceName(161, "udp"), "snmp");
  t.equal(serviceName(6001, "udp"), "X11:1");
  t.equal(serviceName(80), "http", "TCP by default");
  const top = topPorts(10, "udp");
  t.same(
    [...top].sort((a, b) => a - b),
    [53, 67, 123, 135, 137, 138, 161, 445, 631, 1434],
  );
  t.same([...topPorts(10)], [...topPorts(10, "tcp")]);
});

t.test("the probe: an IPv4 UDP datagram with both checksums right", async (t) => {
  for (const port of [53, 123, 161, 7777]) {
    const payload = udpPayload(port);
    const buf = Buffer.alloc(udp.udp4PacketLength(payload) + 4, 0xee);
    const n = udp.writeUdp4Packet(buf, 2, {
      srcIp: US,
      dstIp: TARGET,
      srcPort: 40000,
      dstPort: port,
      payload,
      ipId: 0x1234,
    });
    const ip = ipv4.decode(buf, 2, n);
    t.equal(ip.protocol, 17);
    t.equal(ip.id, 0x1234);
    const u = udp.decode(buf, 2 + 20, n - 20, { srcIp: US, dstIp: TARGET });
    t.equal(u.dstPort, port);
    t.same(buf.subarray(u.payloadOffset, u.payloadOffset + u.payloadLength), Buffer.from(payload));
    t.equal(buf[0], 0xee, "nothing written before the offset");
    t.equal(buf[n + 2], 0xee, "nothing written after the datagram");
  }
});

t.test("payloads: a DNS status request, an NTP client request, an SNMPv1 get", async (t) => {
  const dns = Buffer.from(udpPayload(53));
  t.equal(dns.length, 12, "a DNS header only");
  t.equal((dns[2]! >> 3) & 0x0f, 2, "opcode STATUS");
  const ntp = udpPayload(123);
  t.equal(ntp.length, 48);
  t.equal(ntp[0]! & 7, 3, "NTP mode 3 (client)");
  t.equal((ntp[0]! >> 3) & 7, 4, "NTP version 4");
  const snmp = Buffer.from(udpPayload(161));
  // BER: every constructed length matches what follows it
  t.equal(snmp[0], 0x30);
  t.equal(snmp[1], snmp.length - 2, "the message length");
  t.match(snmp.toString("latin1"), /public/, "community public");
  const pdu = snmp.indexOf(0xa0, 2);
  t.equal(snmp[pdu + 1], snmp.length - pdu - 2, "the GetRequest-PDU length");
  t.equal(udpPayload(7777).length, 0, "other ports: an empty datagram");
});

function frame(protocol: "udp" | "icmp", code = 3, from = TARGET): Buffer {
  const probe = Buffer.alloc(28);
  udp.writeUdp4Packet(probe, 0, { srcIp: US, dstIp: TARGET, srcPort: 40000, dstPort: 5000, ipId: 0x4242 });
  if (protocol === "udp") {
    const b = Buffer.alloc(29);
    udp.writeUdp4Packet(b, 0, {
      srcIp: TARGET,
      dstIp: US,
      srcPort: 5000,
      dstPort: 40000,
      payload: Buffer.from("x"),
    });
    return b;
  }
  const message = icmp.encode({ kind: "destination-unreachable", code, payload: probe });
  const header = ipv4.encode({ src: from, dst: US, protocol: 1, ttl: 64, payloadLength: message.length });
  return Buffer.concat([header, message]);
}

t.test("answers: nmap's -sU classification", async (t) => {
  const a = new UdpAnswer();
  t.ok(readUdpAnswer(frame("udp"), 0, 29, 0, a));
  t.equal(`${outcomeState(a.outcome)}/${outcomeReason(a.outcome)}`, "open/udp-response");
  t.equal(a.port, 5000);
  const cases: Array<[number, number, string]> = [
    [3, TARGET, "closed/port-unreach"],
    [3, 0xc6336401, "filtered/port-unreach"],
    [13, TARGET, "filtered/admin-prohibited"],
    [1, 0xc6336401, "filtered/host-unreach"],
    [10, TARGET, "filtered/host-prohibited"],
  ];
  for (const [code, from, expected] of cases) {
    const f = frame("icmp", code, from);
    t.ok(readUdpAnswer(f, 0, f.length, 0, a), `code ${code}`);
    t.equal(`${outcomeState(a.outcome)}/${outcomeReason(a.outcome)}`, expected, `code ${code} from ${from}`);
    t.equal(a.echoedId, 0x4242, "the quoted probe's id");
    t.equal(a.target, TARGET);
  }
  const f = frame("icmp", 4);
  t.notOk(readUdpAnswer(f, 0, f.length, 0, a), "fragmentation needed decides nothing, as in nmap");
  t.ok(scanReplyFilter(17, US, 40000, 1, 14).length > 0);
});

t.test("UDP outcomes in 4 bits, and the store keeps TCP and UDP ports apart", async (t) => {
  for (let n = 1; n < 12; n++) t.equal(udpNibble(udpOutcomeOfNibble(n)), n);
  t.equal(udpNibble(outcomeOf("open", "syn-ack")), -1, "no TCP answer for a UDP port");
  const store = new ScanStore(Uint16Array.of(53, 80), Uint16Array.of(53, 6001));
  const rec = (port: number, protocol: "tcp" | "udp", state: PortRecord["state"], reason: string) =>
    ({
      type: "port",
      target: "198.51.100.21",
      port,
      protocol,
      state,
      reason,
      ttl: 64,
      rttMs: 0.1,
    }) as PortRecord;
  store.add(rec(53, "tcp", "closed", "reset"));
  store.add(rec(80, "tcp", "open", "syn-ack"));
  store.add(rec(53, "udp", "open", "udp-response"));
  store.add({ ...rec(6001, "udp", "open|filtered", "no-response"), ttl: null, rttMs: null });
  const g = [
    ...nmapGrepable(store, {
      args: "wireprobe scan -sS -sU",
      version: "0",
      start: new Date(0),
      end: new Date(1000),
      ports: store.ports,
      udpPorts: store.udpPorts,
      method: "syn",
      openOnly: false,
      summary: undefined,
    }),
  ].join("");
  t.match(
    g,
    "Ports: 53/closed/tcp//domain///, 80/open/tcp//http///, 53/open/udp//domain///, 6001/open|filtered/udp//X11:1///",
  );
  const report = [...scanReport(store, undefined, false)].join("");
  t.match(report, /^53\/udp\s+open\s+domain\s+udp-response$/m);
  t.match(report, /^53\/tcp\s+closed\s+domain\s+reset$/m);
});

t.test(
  "a rate-limited host is retried until a pass went a token's time after its latest answer",
  async (t) => {
    // A capture of a bench run (ports 1-100, Linux's default limit): the burst at 0 ms, passes at 0, 200,
    // 500, 1000 and 1800 ms, the limiter's next token taken by the pass at 1000 ms. The pass at 1800 ms
    // found the bucket empty (800 ms after), and counting passes gave up on 90 closed ports before pass 5.
    const passes = [0, 200, 500, 1000, 1800, 3400];
    const at = (pass: number, lastAnswerMs: number, answeredIn: number) =>
      retriedAgain(pass, { rateLimited: true, answeredIn, lastAnswerMs, previousPassMs: passes[pass - 1]! });
    t.ok(at(5, 1000, 3), "pass 5: the pass at 1800 ms came before the next token, so it proves nothing");
    t.ok(at(6, 3400, 5), "an answer to the pass at 3400 ms: go on");
    t.notOk(at(6, 1000, 3), "the pass at 3400 ms, 2.4 s after the latest answer, brought nothing: done");
    t.ok(LIMITER_REFILL_MS >= 1000, "at least Linux's token interval (icmp_ratelimit 1000 ms)");
    // A host that never sent a port unreachable: nmap's rule, one pass beyond its latest answered one.
    const plain = (pass: number, answeredIn: number) =>
      retriedAgain(pass, { rateLimited: false, answeredIn, lastAnswerMs: 0, previousPassMs: 1e9 });
    t.ok(plain(1, 0));
    t.notOk(plain(2, 0));
    t.ok(plain(3, 2));
  },
);
