// The scan's parts without a lab: ports, permutation, cookie (HalfSipHash reference vectors), the kernel
// filter (run in a small classic-BPF interpreter), answer decoding (including garbage), the outcome table and
// the nmap-format writers.

import { randomBytes } from "node:crypto";
import t from "tap";
import { intToIpv4, ipv4ToInt } from "../../src/addr/address";
import { toIpv6Bytes } from "../../src/addr/ipv6";
import { formatPortList, parsePorts, topPorts } from "../../src/addr/ports";
import { isHostname, resolveTargets, splitTargetList } from "../../src/addr/resolve";
import { topPortOrder } from "../../src/addr/top-ports";
import { CookieJar, halfSipHash } from "../../src/engine/cookie";
import { Permutation } from "../../src/engine/permutation";
import { tcpScanReplyFilter } from "../../src/net/bpf";
import { nmapGrepable } from "../../src/output/nmap-grepable";
import type { ScanReportMeta } from "../../src/output/nmap-meta";
import { nmapXml } from "../../src/output/nmap-xml";
import { scanReport } from "../../src/output/scan-report";
import { ScanStore } from "../../src/output/scan-store";
import { encode as encodeIcmp } from "../../src/packet/icmp";
import { writeSynPacket } from "../../src/packet/tcp";
import { icmpOutcome, outcomeReason, outcomeState } from "../../src/port-outcomes";
import { Answer, readAnswer } from "../../src/probes/syn/answer";
import type { HostRecord, PortRecord } from "../../src/records";
import { runBpf } from "../helpers/bpf";

t.test("port lists parse as nmap reads them", async (t) => {
  t.same([...parsePorts("22,80,8000-8003")], [22, 80, 8000, 8001, 8002, 8003]);
  t.equal(parsePorts("-").length, 65535, "- is 1-65535");
  t.equal(parsePorts("-")[0], 1, "port 0 only when named");
  t.same([...parsePorts("-3")], [1, 2, 3]);
  t.same([...parsePorts("65533-")], [65533, 65534, 65535]);
  t.same([...parsePorts("80,22,80,T:443")], [22, 80, 443], "sorted, deduplicated, T: prefix");
  t.same([...parsePorts("0")], [0]);
  for (const bad of ["", "x", "70000", "20-10", "1,,2", "U:53", "1-2-3"]) {
    t.throws(() => parsePorts(bad), { name: "UsageError" }, `"${bad}" is refused`);
  }
  t.equal(formatPortList(parsePorts("1,3-4,6-7,9")), "1,3-4,6-7,9");
  t.equal(new Set(topPortOrder()).size, 65535, "the --top-ports order holds every port 1-65535 once");
  t.same([...topPorts(65535)], [...parsePorts("-")], "--top-ports 65535 is -p-");
  t.same([...topPorts(3)], [23, 80, 443], "top 3 by frequency, ascending");
});

t.test("the permutation visits every index once and inverts", async (t) => {
  for (const size of [1, 2, 3, 7, 1000, 65536, 65537, 200_003]) {
    const p = new Permutation(size);
    const seen = new Uint8Array(size);
    let count = 0;
    let inverseOk = true;
    for (let i = 0; i < p.domain; i++) {
      const k = p.at(i);
      if (p.positionOf(k) !== i) inverseOk = false;
      if (k >= size) continue;
      if (seen[k]) break;
      seen[k] = 1;
      count++;
    }
    t.equal(count, size, `size ${size}: every index exactly once`);
    t.ok(inverseOk, `size ${size}: positionOf inverts at`);
    t.ok(p.domain < 2 * size || size === 1, "fewer than half the positions are skipped");
  }
  const big = new Permutation(2 ** 32);
  let ok = true;
  for (let n = 0; n < 100_000; n++) {
    const x = Math.floor(Math.random() * 2 ** 32);
    if (big.positionOf(big.at(x)) !== x) ok = false;
  }
  t.ok(ok, "2^32: positionOf(at(x)) = x");
  const key = randomBytes(24);
  t.same(
    Array.from({ length: 50 }, (_, i) => new Permutation(1000, key).at(i)),
    Array.from({ length: 50 }, (_, i) => new Permutation(1000, key).at(i)),
    "the key fixes the order",
  );
  const order = Array.from({ length: 64 }, (_, i) => new Permutation(64).at(i));
  t.not(order.join(","), Array.from({ length: 64 }, (_, i) => i).join(","), "not the identity");
});

t.test("the cookie is HalfSipHash-2-4 (reference vectors)", async (t) => {
  const key = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
  // vectors_hsip32 from the SipHash reference implementation: message = 0, 1, ..., len-1
  const vectors: Record<number, string> = {
    0: "a9359f5b",
    1: "27475ab8",
    4: "2a6e4689",
    8: "d0b8848f",
    12: "57f0872f",
    13: "77e663ff",
  };
  for (const [len, hex] of Object.entries(vectors)) {
    const out = Buffer.alloc(4);
    out.writeUInt32LE(
      halfSipHash(
        key,
        Uint8Array.from({ length: Number(len) }, (_, i) => i),
      ),
    );
    t.equal(out.toString("hex"), hex, `${len}-byte message`);
  }
  const jar = new CookieJar(key);
  for (let n = 0; n < 200; n++) {
    const src = randomBytes(4).readUInt32BE();
    const dst = randomBytes(4).readUInt32BE();
    const sp = randomBytes(2).readUInt16BE();
    const dp = randomBytes(2).readUInt16BE();
    const m = Buffer.alloc(12);
    m.writeUInt32LE(src, 0);
    m.writeUInt32LE(dst, 4);
    m.writeUInt32LE(((sp << 16) | dp) >>> 0, 8);
    if (jar.cookie(src, dst, sp, dp) !== halfSipHash(key, m)) {
      t.fail(`unrolled cookie differs for ${src} ${dst} ${sp} ${dp}`);
      return;
    }
  }
  t.pass("the unrolled cookie equals HalfSipHash of the 12-byte tuple");
  t.not(new CookieJar().cookie(1, 2, 3, 4), new CookieJar().cookie(1, 2, 3, 4), "keys differ per jar");
});

const OUR_IP = 0xc633640a; // 198.51.100.10
const TARGET = 0xc633640b; // 198.51.100.11

function tcpFrame(fields: {
  dstIp?: number;
  dstPort?: number;
  flags?: number;
  ack?: number;
  fragment?: number;
}): Buffer {
  const f = Buffer.alloc(14 + 40);
  f.writeUInt16BE(0x0800, 12);
  const ip = 14;
  f[ip] = 0x45;
  f.writeUInt16BE(40, ip + 2);
  f.writeUInt16BE(fields.fragment ?? 0, ip + 6);
  f[ip + 8] = 61;
  f[ip + 9] = 6;
  f.writeUInt32BE(TARGET, ip + 12);
  f.writeUInt32BE(fields.dstIp ?? OUR_IP, ip + 16);
  f.writeUInt16BE(22, ip + 20);
  f.writeUInt16BE(fields.dstPort ?? 40000, ip + 22);
  f.writeUInt32BE(fields.ack ?? 0, ip + 28);
  f[ip + 32] = 0x50;
  f[ip + 33] = fields.flags ?? 0x12;
  return f;
}

function icmpFrame(type: number, code: number, quotedSrc = OUR_IP, seq = 1234): Buffer {
  const probe = Buffer.alloc(44);
  writeSynPacket(probe, 0, { srcIp: quotedSrc, dstIp: TARGET, srcPort: 40000, dstPort: 9002, seq });
  const message =
    type === 3
      ? encodeIcmp({ kind: "destination-unreachable", code, payload: probe.subarray(0, 28) })
      : type === 11
        ? encodeIcmp({ kind: "time-exceeded", code, payload: probe.subarray(0, 28) })
        : encodeIcmp({ kind: "other", type, code, payload: probe.subarray(0, 28) });
  const f = Buffer.alloc(14 + 20 + message.length);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(20 + message.length, 16);
  f[14 + 8] = 64;
  f[14 + 9] = 1;
  f.writeUInt32BE(0xc6336401, 14 + 12); // from the router
  f.writeUInt32BE(OUR_IP, 14 + 16);
  message.copy(f, 34);
  return f;
}

t.test("the kernel filter passes our answers and nothing else", async (t) => {
  const filter = tcpScanReplyFilter(OUR_IP, 40000, 1, 14);
  t.ok(runBpf(filter, tcpFrame({})) > 0, "TCP to our port");
  t.equal(runBpf(filter, tcpFrame({ dstPort: 40001 })), 0, "another port");
  t.equal(runBpf(filter, tcpFrame({ dstPort: 39999 })), 0, "a port below");
  t.equal(runBpf(filter, tcpFrame({ dstIp: OUR_IP + 1 })), 0, "another address");
  t.equal(runBpf(filter, tcpFrame({ fragment: 0x0010 })), 0, "a later fragment");
  t.ok(runBpf(filter, icmpFrame(3, 13)) > 0, "ICMP unreachable quoting our probe");
  t.ok(runBpf(filter, icmpFrame(11, 0)) > 0, "ICMP time exceeded quoting our probe");
  t.equal(runBpf(filter, icmpFrame(3, 13, OUR_IP + 5)), 0, "an error about someone else's packet");
  t.equal(runBpf(filter, icmpFrame(0, 0)), 0, "an echo reply");
  const arp = Buffer.alloc(42);
  arp.writeUInt16BE(0x0806, 12);
  t.equal(runBpf(filter, arp), 0, "ARP");
  const range = tcpScanReplyFilter(OUR_IP, 40000, 16, 14);
  t.ok(runBpf(range, tcpFrame({ dstPort: 40015 })) > 0, "a port range: last port");
  t.equal(runBpf(range, tcpFrame({ dstPort: 40016 })), 0, "a port range: past the end");
  const raw = tcpScanReplyFilter(OUR_IP, 40000, 1, 0, 1);
  t.ok(runBpf(raw, tcpFrame({}).subarray(14), 1) > 0, "raw IPv4 on the right interface");
  t.equal(runBpf(raw, tcpFrame({}).subarray(14), 2), 0, "raw IPv4 on another interface");
});

t.test("answers decode to nmap's classification", async (t) => {
  const a = new Answer();
  t.ok(readAnswer(tcpFrame({ flags: 0x12, ack: 77 }), 0, 54, 14, a));
  t.match(a, { target: TARGET, port: 22, ourIp: OUR_IP, ourPort: 40000, ttl: 61, echoed: 77, tcp: true });
  t.equal(outcomeState(a.outcome), "open");
  t.equal(outcomeReason(a.outcome), "syn-ack");
  readAnswer(tcpFrame({ flags: 0x14 }), 0, 54, 14, a);
  t.equal(outcomeReason(a.outcome), "reset", "RST+ACK is closed/reset");
  readAnswer(tcpFrame({ flags: 0x04 }), 0, 54, 14, a);
  t.equal(outcomeReason(a.outcome), "reset", "a bare RST too");
  t.notOk(readAnswer(tcpFrame({ flags: 0x10 }), 0, 54, 14, a), "a bare ACK is no answer");
  t.ok(readAnswer(icmpFrame(3, 13, OUR_IP, 4242), 0, icmpFrame(3, 13).length, 14, a));
  t.match(a, {
    target: TARGET,
    port: 9002,
    ourIp: OUR_IP,
    ourPort: 40000,
    from: 0xc6336401,
    echoed: 4242,
    tcp: false,
  });
  t.equal(outcomeReason(a.outcome), "admin-prohibited");
  const names: Record<number, string> = {
    0: "net-unreach",
    1: "host-unreach",
    2: "proto-unreach",
    3: "port-unreach",
    9: "net-prohibited",
    10: "host-prohibited",
    13: "admin-prohibited",
  };
  for (const [code, name] of Object.entries(names)) {
    t.equal(outcomeReason(icmpOutcome(3, Number(code))), name, `unreachable code ${code}`);
    t.equal(outcomeState(icmpOutcome(3, Number(code))), "filtered");
  }
  t.equal(outcomeReason(icmpOutcome(11, 0)), "time-exceeded");
  t.equal(icmpOutcome(3, 4), 0, "fragmentation needed decides nothing (nmap ignores it)");
  t.notOk(readAnswer(icmpFrame(3, 4), 0, icmpFrame(3, 4).length, 14, a));
  // Anything at all: never throws
  let threw = 0;
  for (let n = 0; n < 20_000; n++) {
    const junk = randomBytes(1 + Math.floor(Math.random() * 100));
    if (n % 3 === 0 && junk.length > 14) junk.writeUInt16BE(0x0800, 12);
    if (n % 3 === 0 && junk.length > 24) junk[14] = 0x45;
    if (n % 6 === 0 && junk.length > 24) junk[23] = n % 12 === 0 ? 1 : 6;
    try {
      readAnswer(junk, 0, junk.length, 14, a);
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0, "random and truncated packets never throw");
});

t.test("targets: names, lists, exclusions", async (t) => {
  t.ok(isHostname("node-1.example.test"));
  t.ok(isHostname("localhost"));
  t.notOk(isHostname("198.51.100.1"));
  t.notOk(isHostname("198.51.100.1-5"));
  t.notOk(isHostname("bad_name"));
  t.same(splitTargetList("198.51.100.1 198.51.100.2\n# comment\n\n203.0.113.0/30 # trailing\r\n"), [
    "198.51.100.1",
    "198.51.100.2",
    "203.0.113.0/30",
  ]);
  const lookup = async (name: string) => {
    if (name === "a.example.test") return "198.51.100.7";
    throw Object.assign(new Error("nope"), { code: "ENOTFOUND" });
  };
  const r = await resolveTargets(
    ["198.51.100.0/29", "a.example.test", "gone.example.test"],
    ["198.51.100.0-3"],
    lookup,
  );
  t.same(
    [...r.set].map((ip) => ip & 255),
    [4, 5, 6, 7],
  );
  t.equal(r.names.get(0xc6336407), "a.example.test", "the name is kept for its address");
  t.same(r.unresolved, [{ name: "gone.example.test", code: "ENOTFOUND" }]);
  await t.rejects(resolveTargets(["198.51.100.300"], [], lookup), { name: "UsageError" });
});

function port(
  target: string,
  p: number,
  state: PortRecord["state"],
  reason: string,
  ttl: number | null = 64,
): PortRecord {
  return {
    type: "port",
    target,
    port: p,
    protocol: "tcp",
    state,
    reason,
    ttl,
    rttMs: ttl === null ? null : 0.2,
  };
}

t.test("nmap-format writers", async (t) => {
  const ports = parsePorts("22,80,1000-1029");
  const store = new ScanStore(ports);
  const records: Array<PortRecord | HostRecord> = [
    port("198.51.100.11", 22, "open", "syn-ack"),
    port("198.51.100.11", 80, "filtered", "admin-prohibited"),
    ...Array.from({ length: 30 }, (_, i) => port("198.51.100.11", 1000 + i, "closed", "reset")),
    port("198.51.100.2", 22, "closed", "reset"),
    port("198.51.100.2", 80, "filtered", "no-response", null),
    { type: "host", target: "198.51.100.99", state: "down", reason: "no-arp-reply" },
  ];
  for (const r of records) store.add(r);
  const meta: ScanReportMeta = {
    args: "wireprobe scan -p 22,80 --exclude a--b 198.51.100.0/24",
    version: "0.1.0",
    start: new Date(0),
    end: new Date(1500),
    ports,
    method: "syn",
    openOnly: false,
    summary: {
      type: "summary",
      command: "scan",
      targets: 3,
      states: {},
      packetsSent: 0,
      packetsReceived: 0,
      packetsDropped: 0,
      durationMs: 1500,
      rate: 0,
    },
  };
  const grep = [...nmapGrepable(store, meta)].join("");
  const lines = grep.split("\n");
  t.ok(lines[0]!.startsWith("# wireprobe 0.1.0 scan initiated "), "header comment");
  t.ok(lines.includes("Host: 198.51.100.2 ()\tStatus: Up"), "hosts in address order");
  t.ok(
    lines.includes(
      "Host: 198.51.100.11 ()\tPorts: 22/open/tcp//ssh///, 80/filtered/tcp//http///\tIgnored State: closed (30)",
    ),
    "more than 25 closed ports are collapsed, as nmap does",
  );
  t.ok(lines.includes("Host: 198.51.100.99 ()\tStatus: Down"));
  t.match(lines.at(-2), /^# wireprobe done at .* -- 3 IP addresses \(2 hosts up\) scanned in 1\.50 seconds$/);
  const openHosts = lines
    .filter((l) => l.includes("Ports") && l.includes("/open/"))
    .map((l) => l.split(" ")[1]);
  t.same(openHosts, ["198.51.100.11"], "grep Ports | grep open");

  const xml = [...nmapXml(store, meta)].join("");
  t.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<!DOCTYPE nmaprun>\n/);
  t.notMatch(xml.replace(/<!--[\s\S]*?-->/g, ""), /--/, "no -- outside comments");
  t.notMatch(/<!--([\s\S]*?)-->/.exec(xml)![1]!, /--/, "no -- inside the comment either");
  t.match(
    xml,
    /<extraports state="closed" count="30">\n<extrareasons reason="reset" count="30" proto="tcp" ports="1000-1029"\/>/,
  );
  t.match(
    xml,
    /<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"\/><service name="ssh" method="table" conf="3"\/><\/port>/,
  );
  t.match(
    xml,
    /<host><status state="down" reason="no-response" reason_ttl="0"\/>\n<address addr="198.51.100.99" addrtype="ipv4"\/>/,
  );
  t.match(xml, /<hosts up="2" down="1" total="3"\/>/);
  t.match(xml, /exit="success"/);
  const interrupted = [...nmapXml(store, { ...meta, summary: { ...meta.summary!, aborted: true } })].join("");
  t.match(interrupted, /exit="error" errormsg="interrupted"/);
  t.match(interrupted, /<\/nmaprun>\n$/, "an interrupted document is still complete");

  const openOnly = [...nmapGrepable(store, { ...meta, openOnly: true })].join("");
  t.notMatch(openOnly, /198\.51\.100\.2 /, "--open drops hosts without an open port");
  t.match(openOnly, /Ports: 22\/open\/tcp\/\/ssh\/\/\/\tIgnored State: closed \(30\)/);

  const report = [...scanReport(store, undefined, false)].join("");
  t.match(report, /Not shown: 30 closed tcp ports \(reset\)/);
  t.match(report, /Host 198\.51\.100\.99 is down \(no-arp-reply\)/);
});

t.test("the scan store keeps every host apart and lists them in address order", async (t) => {
  const ports = parsePorts("22,80");
  // Addresses that differ only in their high bits, and ones above 2^31, in a scattered and in a dense set.
  const sparse = Array.from({ length: 3000 }, (_, i) => (((i % 256) << 24) | ((i >> 8) << 8) | 7) >>> 0);
  const dense = Array.from({ length: 3000 }, (_, i) => 0xc6120000 + i);
  for (const [what, addresses] of [
    ["scattered", sparse],
    ["a range", dense],
  ] as const) {
    const store = new ScanStore(ports);
    const shuffled = [...addresses].sort(() => Math.random() - 0.5);
    for (const ip of shuffled) {
      const target = intToIpv4(ip);
      store.add(port(target, 22, ip % 3 === 0 ? "open" : "closed", ip % 3 === 0 ? "syn-ack" : "reset"));
      store.add(port(target, 80, "filtered", "no-response", null));
    }
    t.equal(store.hostCount, addresses.length, `${what}: one host per address`);
    const listed: string[] = [];
    const states: string[] = [];
    for (const host of store.hosts()) {
      listed.push(host.address);
      states.push(outcomeState(host.outcome(0)));
    }
    const sorted = [...addresses].sort((a, b) => a - b);
    t.same(listed, sorted.map(intToIpv4), `${what}: ascending addresses`);
    t.same(
      states,
      sorted.map((ip) => (ip % 3 === 0 ? "open" : "closed")),
      `${what}: each host its own outcomes`,
    );
    // Hosts with the same outcomes share their rendered text; the text still differs where outcomes do.
    const report = [...scanReport(store, undefined, false)].join("");
    const open = (ip: number) =>
      `Scan report for ${intToIpv4(ip)}\nPORT    STATE     SERVICE  REASON\n22/tcp  ${ip % 3 === 0 ? "open      ssh      syn-ack" : "closed    ssh      reset"}`;
    t.ok(
      sorted.every((ip) => report.includes(open(ip))),
      `${what}: every host's own table`,
    );
    t.equal(report.split("\n22/tcp  open ").length - 1, addresses.filter((ip) => ip % 3 === 0).length);
  }
});

t.test(
  "the store lists hosts by address: IPv4 first, then IPv6, whatever order the answers came in",
  async (t) => {
    const ports = parsePorts("80");
    const shuffle = <T>(a: T[]): T[] => {
      let seed = 7;
      for (let i = a.length - 1; i > 0; i--) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        const j = seed % (i + 1);
        [a[i], a[j]] = [a[j]!, a[i]!];
      }
      return a;
    };
    // A sweep's IPv6 hosts share their first 96 bits; a list's may differ anywhere, even in the first word.
    const sweep = Array.from({ length: 300 }, (_, i) => `2001:db8:ffff::${(i * 211).toString(16)}`);
    const scattered = [
      "2001:db8:1::1",
      "2001:db8::ffff:1",
      "3fff::1",
      "2001:db8:0:1::",
      "2001:db8::1",
      "::1",
    ];
    const v4 = ["203.0.113.7", "198.51.100.200", "198.51.100.3", "198.18.0.1"];
    const byBytes = (a: string, b: string) => {
      const x = toIpv6Bytes(a);
      const y = toIpv6Bytes(b);
      for (let i = 0; i < 16; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
      return 0;
    };
    for (const [name, v6] of [
      ["a sweep", sweep],
      ["a dense sweep", Array.from({ length: 300 }, (_, i) => `2001:db8:ffff::${(i + 65000).toString(16)}`)],
      ["scattered", scattered],
      ["both", [...sweep, ...scattered]],
    ] as const) {
      const store = new ScanStore(ports);
      for (const a of shuffle([...v6, ...v4])) store.add(port(a, 80, "open", "syn-ack"));
      const listed: string[] = [];
      for (const h of store.hosts()) listed.push(h.address);
      const v4sorted = [...v4].sort((a, b) => ipv4ToInt(a) - ipv4ToInt(b));
      t.same(listed, [...v4sorted, ...[...v6].sort(byBytes)], name);
    }
  },
);
