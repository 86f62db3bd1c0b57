// The agent's pure parts: durations, the round schedule (an injected clock and random source), peers
// (sources, the gate, caps, the node file's reload), the metrics mapping from hand-made check results, and
// the registry's exposition. No lab.

import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { errorKind } from "../../src/agent/agent";
import { formatDuration, parseDuration } from "../../src/agent/duration";
import { parseListen } from "../../src/agent/http";
import { AgentMetrics, answerDigest, roundSeries, type Series } from "../../src/agent/metrics";
import {
  MAX_NODES_FILE_BYTES,
  NodesFile,
  nodesFileEntries,
  nodesOptionEntries,
  parseNetworks,
  selectPeers,
  specialAddress,
  summarizeRefusals,
} from "../../src/agent/peers";
import { Schedule } from "../../src/agent/schedule";
import type { CheckResult } from "../../src/check/check";
import { EnvironmentError, UsageError } from "../../src/errors";
import type { SummaryRecord, VerdictRecord } from "../../src/records";
import { arpRecord, dnsRecord, portRecord } from "../helpers/records";

t.test("durations", async (t) => {
  t.equal(parseDuration("500ms"), 500);
  t.equal(parseDuration("30s"), 30_000);
  t.equal(parseDuration("2m"), 120_000);
  t.equal(parseDuration("1.5s"), 1500);
  t.equal(parseDuration("1h"), 3_600_000);
  for (const bad of ["30", "", "s", "-1s", "1d", "1 s", "1e3ms", "0x10s"])
    t.throws(() => parseDuration(bad, "--interval"), UsageError, `"${bad}" is refused`);
  t.throws(() => parseDuration("0s", "--interval"), /at least 1ms/);
  t.throws(() => parseDuration("25h", "--interval"), /at most 24h/);
  t.equal(formatDuration(30_000), "30s");
  t.equal(formatDuration(120_000), "2m");
  t.equal(formatDuration(1500), "1500ms");
});

t.test("--listen", async (t) => {
  t.same(parseListen("127.0.0.1:9474"), { host: "127.0.0.1", port: 9474 });
  t.same(parseListen("[2001:db8::1]:9474"), { host: "2001:db8::1", port: 9474 });
  t.same(parseListen("0.0.0.0:0"), { host: "0.0.0.0", port: 0 });
  for (const bad of ["9474", "2001:db8::1:9474", "127.0.0.1:", "127.0.0.1:70000", "[::1]"])
    t.throws(() => parseListen(bad), UsageError, bad);
});

t.test("the schedule: slots, jitter, no overlap, late rounds", async (t) => {
  let r = 0.5;
  const s = new Schedule({ intervalMs: 1000, random: () => r });
  // jitter 0.2 of 1000 ms: a random 0.5 delays by 100 ms
  t.same(s.next(0), { round: 1, slot: 0, startAt: 100, late: false });
  // round 1 ran 100..400: round 2 is at its slot plus its jitter
  r = 0;
  t.same(s.next(400), { round: 2, slot: 1000, startAt: 1000, late: false });
  r = 0.999999;
  const p3 = s.next(1500);
  t.equal(p3.slot, 2000);
  t.ok(p3.startAt >= 2000 && p3.startAt < 2200, "the jitter stays below a fifth of the interval");
  // round 3 overran: it ended at 3500, after round 4's planned start (3000 + jitter): round 4 starts now, late
  r = 0.1;
  t.same(s.next(3500), { round: 4, slot: 3500, startAt: 3500, late: true });
  // the grid is re-anchored at the late round: no backlog of rounds to catch up
  r = 0;
  t.same(s.next(3600), { round: 5, slot: 4500, startAt: 4500, late: false });
  // every start comes after the previous round's end, whatever the durations
  const clock = new Schedule({ intervalMs: 100, random: () => 0.7 });
  let now = 0;
  const overlaps: number[] = [];
  let late = 0;
  for (let i = 0; i < 200; i++) {
    const plan = clock.next(now);
    if (plan.startAt < now) overlaps.push(plan.round);
    if (plan.late) late++;
    const duration = (i * 37) % 250; // some rounds overrun the 100 ms interval, most do not
    now = plan.startAt + duration;
  }
  t.same(overlaps, [], "no round starts before the previous one ended");
  t.ok(late > 0 && late < 200, `${late} late rounds of 200`);
  t.throws(() => new Schedule({ intervalMs: 0 }), RangeError);
  t.throws(() => new Schedule({ intervalMs: 1000, jitter: 2 }), RangeError);
});

t.test("special addresses and networks", async (t) => {
  t.equal(specialAddress("198.51.100.12"), null);
  t.equal(specialAddress("2001:db8::12"), null);
  t.equal(specialAddress("127.0.0.1"), "loopback");
  t.equal(specialAddress("::1"), "loopback");
  t.equal(specialAddress("224.0.0.1"), "multicast");
  t.equal(specialAddress("ff02::1"), "multicast");
  t.equal(specialAddress("0.0.0.0"), "unspecified");
  t.equal(specialAddress("::"), "unspecified");
  t.equal(specialAddress("169.254.1.1"), "link-local");
  t.equal(specialAddress("fe80::1"), "link-local");
  t.equal(specialAddress("::ffff:198.51.100.1"), "IPv4-mapped");
  t.equal(specialAddress("255.255.255.255"), "broadcast");
  t.equal(specialAddress("web"), "not an address");
  const nets = parseNetworks(["198.51.100.0/24", "2001:db8::/32", "203.0.113.7"]);
  t.equal(nets.length, 3);
  for (const bad of ["198.51.100.0/33", "2001:db8::/129", "x/24", "198.51.100.0/", "198.51.100.0/-1"])
    t.throws(() => parseNetworks([bad]), UsageError, bad);
});

t.test("peers: sources, refusals, the cap", async (t) => {
  const nodes = nodesOptionEntries(["node1=198.51.100.11,2001:db8::11", "198.51.100.12-13"]);
  t.same(nodes, [
    { name: "node1", address: "198.51.100.11" },
    { name: "node1", address: "2001:db8::11" },
    { name: null, address: "198.51.100.12" },
    { name: null, address: "198.51.100.13" },
  ]);
  t.throws(() => nodesOptionEntries(["198.51.100.300"]), UsageError, "a bad --nodes is a usage error");
  const file = nodesFileEntries(
    "# nodes\nnode2=198.51.100.22 2001:db8::22\n\nbad=198.51.100.1 198.51.100.2\n198.51.100.999\n198.51.100.24 # x\n",
  );
  t.same(
    file.entries.map((e) => e.address),
    ["198.51.100.22", "2001:db8::22", "198.51.100.24"],
  );
  t.same(
    file.refusals.map((r) => [r.reason, r.detail.slice(0, 7)]),
    [
      ["malformed", "line 4:"],
      ["malformed", "line 5:"],
    ],
  );
  const dnsPeers = [
    "198.51.100.31",
    "198.51.100.32",
    "203.0.113.50",
    "127.0.0.1",
    "198.51.100.11",
    "2001:db8::33",
  ].map((address) => ({ name: null, address }));
  const sel = selectPeers(
    [
      { source: "nodes", entries: nodes },
      { source: "file", entries: file.entries },
      { source: "dns", entries: dnsPeers },
    ],
    { maxPeers: 8, networks: parseNetworks(["198.51.100.0/24", "2001:db8::/32"]) },
  );
  t.same(sel.counts, { nodes: 4, file: 3, dns: 1 }, "the cap cuts the last source first");
  t.same(
    sel.refusals.map((r) => `${r.source} ${r.reason}`),
    ["dns outside-networks", "dns bad-address", "dns cap", "dns cap"],
    "198.51.100.11 again is no refusal: its first source keeps it",
  );
  t.same(sel.nodes.slice(0, 2), [
    { name: "node1", addresses: ["198.51.100.11", "2001:db8::11"] },
    { addresses: ["198.51.100.12"] },
  ]);
  t.equal(sel.used.length, 8);
  const capped = selectPeers([{ source: "dns", entries: dnsPeers }], { maxPeers: 2 });
  t.same(
    capped.refusals.map((r) => r.reason),
    ["bad-address", "cap", "cap", "cap"],
    "without --peer-networks only special addresses are refused",
  );
  t.match(summarizeRefusals(capped.refusals), [
    /peers refused \(dns bad-address\): 1 - 127\.0\.0\.1: loopback/,
    /dns cap\): 3 - beyond --max-peers 2/,
  ]);
  // a named node with two addresses of one family over two sources: the second is refused
  const clash = selectPeers([
    { source: "nodes", entries: [{ name: "n", address: "198.51.100.1" }] },
    { source: "file", entries: [{ name: "n", address: "198.51.100.2" }] },
  ]);
  t.same(
    clash.refusals.map((r) => `${r.source} ${r.reason}`),
    ["file malformed"],
  );
});

t.test("the node file: read again when it changes, capped, the last good list kept", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wireprobe-agent-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "nodes");
  writeFileSync(path, "198.51.100.11\n");
  const f = new NodesFile(path);
  const first = await f.read();
  t.same([first.changed, first.entries.length, first.error], [true, 1, null]);
  t.equal((await f.read()).changed, false, "unchanged: not read again");
  writeFileSync(path, "198.51.100.11\n198.51.100.12\n");
  const second = await f.read();
  t.same([second.changed, second.entries.length], [true, 2], "a new size");
  // the same size, another mtime
  writeFileSync(path, "198.51.100.11\n198.51.100.13\n");
  const m = statSync(path).mtime;
  utimesSync(path, m, new Date(m.getTime() + 5000));
  const third = await f.read();
  t.same(
    third.entries.map((e) => e.address),
    ["198.51.100.11", "198.51.100.13"],
  );
  writeFileSync(path, `${"198.51.100.14\n".repeat(MAX_NODES_FILE_BYTES / 14 + 1)}`);
  const big = await f.read();
  t.same(
    [big.entries.length, big.refusals[0]?.reason],
    [2, "too-large"],
    "too large: refused, the last good list kept",
  );
  rmSync(path);
  const gone = await f.read();
  t.match(gone.error, /cannot read/);
  t.equal(gone.entries.length, 2, "unreadable: the last good list kept");
});

t.test("error kinds", async (t) => {
  t.equal(errorKind(new EnvironmentError("arp: needs root or CAP_NET_RAW (EPERM)", "EPERM")), "privilege");
  t.equal(
    errorKind(new EnvironmentError('unknown interface "eth1" (this namespace has: lo)', "ENODEV")),
    "interface",
  );
  t.equal(
    errorKind(new EnvironmentError('network namespace: unknown network namespace "x"', "ENONS")),
    "netns",
  );
  t.equal(errorKind(new Error("sending: the interface queue stays full")), "interface");
  t.equal(errorKind(new Error("something else")), "probe");
});

// Hand-made check results.
const verdict = (check: VerdictRecord["check"], ok: boolean, complete = true): VerdictRecord => ({
  type: "verdict",
  check,
  ok,
  detail: "",
  evidence: [],
  fix: null,
  complete,
  notProbed: [],
  families: [
    { family: "ipv4", ok, complete, detail: "" },
    { family: "ipv6", ok: true, complete: true, detail: "" },
  ],
});
const summary = (command: string, sent: number, received: number): SummaryRecord => ({
  type: "summary",
  command,
  targets: 1,
  states: {},
  packetsSent: sent,
  packetsReceived: received,
  packetsDropped: 0,
  durationMs: 1,
  rate: 0,
});

function result(): CheckResult {
  return {
    nodes: ["198.51.100.11", "2001:db8::11", "198.51.100.12", "203.0.113.14", "198.51.100.13"],
    nodePorts: [30000],
    clusterNodes: [
      { name: "node1", ipv4: "198.51.100.11", ipv6: "2001:db8::11" },
      { name: "node2", ipv4: "198.51.100.12", ipv6: null },
      { name: "node4", ipv4: "203.0.113.14", ipv6: null },
      { name: null, ipv4: "198.51.100.13", ipv6: null },
    ],
    nodePortSpecs: [{ port: 30000, protocol: "tcp", family: null }],
    notScanned: [{ target: "2001:db8::11", port: 30053, protocol: "udp", reason: "own" }],
    dnsServers: ["198.51.100.53", "198.51.100.54"],
    dnsNames: ["kubernetes.default.svc.cluster.local"],
    aborted: false,
    arp: [
      arpRecord("198.51.100.11", "local"),
      arpRecord("2001:db8::11", "local"),
      arpRecord("198.51.100.12", "reply"),
      arpRecord("203.0.113.14", "not-on-link", { gateway: "198.51.100.1" }),
      arpRecord("198.51.100.13", "no-reply"),
      arpRecord("198.51.100.15", "reply", {
        conflict: true,
        macs: ["02:00:00:00:00:01", "02:00:00:00:00:02"],
      }),
    ],
    ports: [
      portRecord("198.51.100.11", "open"),
      portRecord("198.51.100.12", "open"),
      portRecord("203.0.113.14", "closed"),
    ],
    hosts: [{ type: "host", target: "198.51.100.13", state: "down", reason: "no-arp-reply" }],
    dns: [
      dnsRecord("198.51.100.53", "ok", ["198.18.1.1"]),
      dnsRecord("198.51.100.54", "ok", ["198.18.1.2"]),
      dnsRecord("198.51.100.55", "timeout"),
    ],
    consistency: [
      {
        type: "dns-consistency",
        name: "kubernetes.default.svc.cluster.local",
        qtype: "A",
        transport: "udp",
        consistent: false,
        answers: {},
        rcodes: {},
        statuses: { "198.51.100.53": "ok", "198.51.100.54": "ok", "198.51.100.55": "timeout" },
        odd: ["198.51.100.54", "198.51.100.55"],
      },
    ],
    pings: [],
    verdicts: [verdict("host-gw", false), verdict("nodeport", false, false)],
    summaries: [summary("arp", 10, 3), summary("scan", 6, 3), summary("scan", 2, 1), summary("dns", 3, 2)],
    durationMs: 1234,
  };
}

const key = (s: Series) =>
  `${s.name}{${Object.entries(s.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",")}} ${s.value}`;

t.test("the metrics mapping: one round's result → its series", async (t) => {
  const { series, packets } = roundSeries(result(), "node1");
  const lines = series.map(key);
  t.same(
    lines.filter((l) => l.startsWith("wireprobe_peer_")),
    [
      "wireprobe_peer_adjacent{peer=node2,address=198.51.100.12,family=ipv4,state=reply} 1",
      "wireprobe_peer_rtt_seconds{peer=node2,address=198.51.100.12,family=ipv4} 0.00025",
      "wireprobe_peer_adjacent{peer=node4,address=203.0.113.14,family=ipv4,state=not-on-link} 0",
      "wireprobe_peer_adjacent{peer=198.51.100.13,address=198.51.100.13,family=ipv4,state=no-reply} 0",
      "wireprobe_peer_adjacent{peer=198.51.100.15,address=198.51.100.15,family=ipv4,state=conflict} 0",
      "wireprobe_peer_rtt_seconds{peer=198.51.100.15,address=198.51.100.15,family=ipv4} 0.00025",
    ],
    "own addresses (local) are no peers; a conflict is not adjacent (but it did reply)",
  );
  t.same(
    lines.filter((l) => l.startsWith("wireprobe_nodeport_open")),
    [
      "wireprobe_nodeport_open{peer=node1,address=198.51.100.11,family=ipv4,port=30000,protocol=tcp,state=open} 1",
      "wireprobe_nodeport_open{peer=node2,address=198.51.100.12,family=ipv4,port=30000,protocol=tcp,state=open} 1",
      "wireprobe_nodeport_open{peer=node4,address=203.0.113.14,family=ipv4,port=30000,protocol=tcp,state=closed} 0",
      "wireprobe_nodeport_open{peer=198.51.100.13,address=198.51.100.13,family=ipv4,port=30000,protocol=tcp,state=down} 0",
      "wireprobe_nodeport_open{peer=node1,address=2001:db8::11,family=ipv6,port=30053,protocol=udp,state=not-scanned} 0",
    ],
  );
  const name = "kubernetes.default.svc.cluster.local";
  t.same(
    lines.filter((l) => l.startsWith("wireprobe_dns_ok") || l.startsWith("wireprobe_dns_agrees")),
    [
      `wireprobe_dns_ok{server=198.51.100.53,name=${name},qtype=A,status=ok} 1`,
      `wireprobe_dns_ok{server=198.51.100.54,name=${name},qtype=A,status=ok} 1`,
      `wireprobe_dns_ok{server=198.51.100.55,name=${name},qtype=A,status=timeout} 0`,
      `wireprobe_dns_agrees{server=198.51.100.53,name=${name},qtype=A} 1`,
      `wireprobe_dns_agrees{server=198.51.100.54,name=${name},qtype=A} 0`,
      `wireprobe_dns_agrees{server=198.51.100.55,name=${name},qtype=A} 0`,
    ],
  );
  t.equal(series.filter((s) => s.name === "wireprobe_dns_rtt_seconds").length, 2, "rtt only with an answer");
  const digests = series.filter((s) => s.name === "wireprobe_dns_answer_digest");
  t.equal(digests.length, 2, "a digest only for an answer");
  t.not(digests[0]!.value, digests[1]!.value, "different answers, different digests");
  t.equal(
    answerDigest("NOERROR", ["b", "a"]),
    answerDigest("NOERROR", ["a", "b"]),
    "the order does not matter",
  );
  t.not(answerDigest("NOERROR", []), answerDigest("NXDOMAIN", []), "the rcode does");
  t.ok(Number.isSafeInteger(digests[0]!.value) && digests[0]!.value < 2 ** 48, "48 bits");
  t.same(
    lines.filter((l) => l.startsWith("wireprobe_verdict")),
    [
      "wireprobe_verdict_ok{check=host-gw,family=all} 0",
      "wireprobe_verdict_ok{check=host-gw,family=ipv4} 0",
      "wireprobe_verdict_ok{check=host-gw,family=ipv6} 1",
      "wireprobe_verdict_complete{check=host-gw} 1",
      "wireprobe_verdict_ok{check=nodeport,family=all} 0",
      "wireprobe_verdict_ok{check=nodeport,family=ipv4} 0",
      "wireprobe_verdict_ok{check=nodeport,family=ipv6} 1",
      "wireprobe_verdict_complete{check=nodeport} 0",
    ],
  );
  t.same(Object.fromEntries(packets), {
    arp: { sent: 10, received: 3, dropped: 0 },
    scan: { sent: 8, received: 4, dropped: 0 },
    dns: { sent: 3, received: 2, dropped: 0 },
  });
  // the node's own name excludes a peer of that name even when ARP did not say local
  const other = roundSeries(result(), "node2").series.filter((s) => s.name === "wireprobe_peer_adjacent");
  t.notOk(other.some((s) => s.labels.peer === "node2"));
});

t.test("the registry: node on every series, gauges refilled each round, counters summed", async (t) => {
  const m = new AgentMetrics("node1", { defaultMetrics: false });
  m.recordResult(result());
  m.recordRound("ok", false, 1234, 1_700_000_000_000);
  m.setPeers({ nodes: 5 });
  m.countRefused("dns", "cap", 3);
  let text = await m.metrics();
  for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#")))
    t.match(line, /node="node1"/, line);
  t.match(
    text,
    /wireprobe_peer_adjacent\{peer="node4",address="203.0.113.14",family="ipv4",state="not-on-link",node="node1"\} 0/,
  );
  t.match(text, /wireprobe_rounds_total\{outcome="ok",node="node1"\} 1/);
  t.match(text, /wireprobe_rounds_total\{outcome="late",node="node1"\} 0/);
  t.match(text, /wireprobe_round_duration_seconds\{node="node1"\} 1.234/);
  t.match(text, /wireprobe_last_round_timestamp_seconds\{node="node1"\} 1700000000/);
  t.match(text, /wireprobe_peers_refused_total\{source="dns",reason="cap",node="node1"\} 3/);
  t.match(text, /# TYPE wireprobe_probe_packets_sent_total counter/);
  // the next round no longer sees node4: its series goes; the counters add up
  const next = result();
  next.arp = next.arp.filter((r) => r.target !== "203.0.113.14");
  m.recordResult(next);
  m.recordRound("failed", true, 10, 1_700_000_001_000);
  text = await m.metrics();
  t.notMatch(text, /address="203.0.113.14",family="ipv4",state/);
  t.match(text, /wireprobe_probe_packets_sent_total\{probe="arp",node="node1"\} 20/);
  t.match(text, /wireprobe_rounds_total\{outcome="late",node="node1"\} 1/);
  m.clearRound();
  m.setHealthy(false);
  text = await m.metrics();
  t.notMatch(text, /wireprobe_peer_adjacent\{/, "a failed round leaves no per-round series");
  t.match(text, /wireprobe_agent_healthy\{node="node1"\} 0/);
  const withDefaults = new AgentMetrics("node2");
  t.match(await withDefaults.metrics(), /process_resident_memory_bytes\{node="node2"\}/);
});

t.test("series per agent: a 500-node dual-stack cluster, 1 nodePort, 2 DNS servers × 2 names", async (t) => {
  const v4 = (i: number) => `198.18.${i >> 8}.${i & 255}`;
  const v6 = (i: number) => `2001:db8::${i.toString(16)}`;
  const nodes = Array.from({ length: 500 }, (_, i) => ({ name: `node${i}`, ipv4: v4(i), ipv6: v6(i) }));
  const r = result();
  r.clusterNodes = nodes;
  r.nodes = nodes.flatMap((n) => [n.ipv4, n.ipv6]);
  r.arp = nodes.flatMap((n, i) => [
    arpRecord(n.ipv4, i === 0 ? "local" : "reply"),
    arpRecord(n.ipv6, i === 0 ? "local" : "reply"),
  ]);
  r.ports = nodes.flatMap((n) => [portRecord(n.ipv4, "open"), portRecord(n.ipv6, "open")]);
  r.hosts = [];
  r.notScanned = [];
  const names = ["kubernetes.default.svc.cluster.local", "redis.db.svc.cluster.local"];
  const servers = ["198.51.100.53", "198.51.100.54"];
  r.dns = servers.flatMap((s) => names.map((name) => dnsRecord(s, "ok", ["198.18.1.1"], { name })));
  r.consistency = names.map((name) => ({
    type: "dns-consistency" as const,
    name,
    qtype: "A",
    transport: "udp" as const,
    consistent: true,
    answers: {},
    rcodes: {},
    statuses: { [servers[0]!]: "ok" as const, [servers[1]!]: "ok" as const },
    odd: [],
  }));
  const dnsVerdict = verdict("dns", true);
  dnsVerdict.families = [{ family: "ipv4", ok: true, complete: true, detail: "" }];
  r.verdicts = [verdict("host-gw", true), verdict("nodeport", true), dnsVerdict];
  r.summaries = [summary("arp", 1, 1), summary("scan", 1, 1), summary("dns", 1, 1)];
  const { series } = roundSeries(r, "node0");
  const count = (name: string) => series.filter((s) => s.name === name).length;
  t.equal(count("wireprobe_peer_adjacent"), 998);
  t.equal(count("wireprobe_peer_rtt_seconds"), 998);
  t.equal(count("wireprobe_nodeport_open"), 1000);
  t.equal(
    count("wireprobe_dns_ok") +
      count("wireprobe_dns_rtt_seconds") +
      count("wireprobe_dns_answer_digest") +
      count("wireprobe_dns_agrees"),
    16,
  );
  t.equal(count("wireprobe_verdict_ok"), 8);
  t.equal(count("wireprobe_verdict_complete"), 3);
  t.equal(series.length, 3023, "the round's gauges");
  const m = new AgentMetrics("node0", { defaultMetrics: false });
  m.recordResult(r);
  m.recordRound("ok", false, 1, 1);
  m.setPeers({ dns: 1000 });
  const lines = (await m.metrics()).split("\n").filter((l) => l.startsWith("wireprobe_"));
  t.equal(lines.length, 3039, "every wireprobe series of the agent (README: 3,039)");
});
