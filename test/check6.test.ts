// `wireprobe check` over IPv6: node lists, nodePort specs, per-family verdicts from hand-made records, bad input,
// and an IPv6-only cluster (dual-stack: check-dual-stack.test.ts; UDP nodePorts: check-udp.test.ts; the demo:
// demo6.test.ts).
// Real labs, real peers as oracles in the checking node's namespace: ndisc6 for NDP adjacency, arping for ARP,
// nmap -6 -sS and nmap -sS for the nodePort states. Addresses from 2001:db8::/32 only (added with nodad).
//
//   IPv6-only lab: segment a 2001:db8:a::/64: node1 ::11 (runs the check), node2 ::12 (nodePort 30000 open),
//     node3 ::13 (drops it), dns ::53, router ::1; segment b 2001:db8:b::/64: router ::1, node4 ::14 (behind
//     the router, rejects 30000), outside ::100

import t from "tap";
import { groupNodeWords, nodeListSpecs, parseNodePort, parseNodes } from "../src/check/nodes";
import { hostGwVerdict, nodePortVerdict } from "../src/check/verdicts";
import type { PingRecord, PortRecord, SummaryRecord } from "../src/records";
import {
  arpOf,
  cli,
  listenTcp,
  NAME,
  ndisc6,
  nmapStates,
  parse,
  portOf,
  RECORD,
  verdict,
  waitListening,
} from "./helpers/check6";
import { startDnsmasq } from "./helpers/dns-lab";
import { withLab } from "./helpers/lab";
import { arpRecord } from "./helpers/records";

t.test("node lists and nodePort specs", async (t) => {
  t.same(parseNodes(["198.51.100.11", "2001:DB8:A::11"]), [
    { name: null, ipv4: "198.51.100.11", ipv6: null },
    { name: null, ipv4: null, ipv6: "2001:db8:a::11" },
  ]);
  t.same(
    parseNodes(["node1=198.51.100.11", "node2=198.51.100.12", "node1=2001:db8:a:0::11"]),
    [
      { name: "node1", ipv4: "198.51.100.11", ipv6: "2001:db8:a::11" },
      { name: "node2", ipv4: "198.51.100.12", ipv6: null },
    ],
    "the same name twice: one dual-stack node, in RFC 5952 form",
  );
  t.same(
    parseNodes([{ name: "n1", addresses: ["198.51.100.11", "2001:db8:a::11"] }, "198.51.100.11/31"]),
    [
      { name: "n1", ipv4: "198.51.100.11", ipv6: "2001:db8:a::11" },
      { name: null, ipv4: "198.51.100.10", ipv6: null },
    ],
    "an API node list's shape; a bare address that a named node has is that node's",
  );
  t.same(groupNodeWords(["198.51.100.9", "a=198.51.100.11", "2001:db8::11", "b=198.51.100.12"]), [
    "198.51.100.9",
    "a=198.51.100.11",
    "a=2001:db8::11",
    "b=198.51.100.12",
  ]);
  t.same(
    nodeListSpecs(
      "# kubectl get nodes -o jsonpath\nnode1=198.51.100.11 2001:db8::11\n198.51.100.13 198.51.100.14\n",
    ),
    ["node1=198.51.100.11", "node1=2001:db8::11", "198.51.100.13", "198.51.100.14"],
    "a list file: NAME= groups its line only",
  );
  t.throws(() => parseNodes(["n1=198.51.100.11", "n1=198.51.100.12"]), /node n1 has two IPv4 addresses/);
  t.throws(() => parseNodes(["n1=198.51.100.0/24"]), /a named node takes single addresses/);
  t.throws(() => parseNodes(["a=198.51.100.11", "b=198.51.100.11"]), /given for two nodes, a and b/);
  t.throws(() => parseNodes(["bad,name=198.51.100.11"]), /invalid node name/);
  t.same(parseNodePort("30000"), { port: 30000, protocol: "tcp", family: null });
  t.same(parseNodePort("30053/UDP"), { port: 30053, protocol: "udp", family: null });
  t.same(parseNodePort("30000/tcp/ipv6"), { port: 30000, protocol: "tcp", family: "ipv6" });
  t.same(parseNodePort("30000/ipv4"), { port: 30000, protocol: "tcp", family: "ipv4" });
  t.throws(() => parseNodePort("30000/sctp"), /invalid port "30000\/sctp"/);
});

t.test("verdicts per family from hand-made records", async (t) => {
  const cluster = parseNodes([
    "n1=198.51.100.11",
    "n1=2001:db8:a::11",
    "n2=198.51.100.12",
    "n2=2001:db8:b::12",
  ]);
  const v = hostGwVerdict(
    [
      arpRecord("198.51.100.11", "local"),
      arpRecord("2001:db8:a::11", "local"),
      arpRecord("198.51.100.12", "reply"),
      arpRecord("2001:db8:b::12", "not-on-link", { gateway: "2001:db8:a::1" }),
    ],
    { cluster },
  );
  t.equal(v.ok, false, "adjacent over IPv4 only: not adjacent");
  t.same(
    v.families?.map((f) => [f.family, f.ok]),
    [
      ["ipv4", true],
      ["ipv6", false],
    ],
  );
  t.match(v.detail, /^IPv4: All 1 peer node\(s\) .* answer ARP.* IPv6: n2 \(2001:db8:b::12\) is not on-link/);
  t.match(
    v.detail,
    /n2 is on this node's segment over IPv4 only: a dual-stack node is adjacent only if both/,
  );
  t.match(v.detail, /`ip -6 route add POD_CIDR via PEER`/);
  t.match(v.fix, /^IPv6: Put the nodes' IPv6 addresses on one layer-2 segment/);
  t.same(
    v.evidence.find((e) => e.subject === "2001:db8:b::12"),
    {
      subject: "2001:db8:b::12",
      finding: "not-on-link: the kernel routes it via 2001:db8:a::1",
      family: "ipv6",
      node: "n2",
    },
    "evidence names the family and the node",
  );
  const v4only = hostGwVerdict([arpRecord("198.51.100.12", "reply")]);
  t.same(
    v4only.families?.map((f) => f.family),
    ["ipv4"],
  );
  t.notMatch(v4only.detail, /IPv4:/, "one family: the detail as before");

  // A UDP nodePort on this host's own IPv6 address cannot be scanned: said, never a failure or a hole.
  const port = (
    target: string,
    p: number,
    protocol: "tcp" | "udp",
    state: PortRecord["state"],
  ): PortRecord => ({
    type: "port",
    target,
    port: p,
    protocol,
    state,
    reason: state === "open" ? (protocol === "udp" ? "udp-response" : "syn-ack") : "port-unreach",
    ttl: 64,
    rttMs: 0.1,
  });
  const nodes = ["198.51.100.11", "2001:db8:a::11", "198.51.100.12", "2001:db8:b::12"];
  const np = nodePortVerdict(
    ["30053/udp"],
    [
      port("198.51.100.11", 30053, "udp", "open"),
      port("198.51.100.12", 30053, "udp", "open"),
      port("2001:db8:b::12", 30053, "udp", "open"),
    ],
    [],
    nodes,
    {
      cluster,
      notScanned: [{ target: "2001:db8:a::11", port: 30053, protocol: "udp", reason: "this host's own" }],
    },
  );
  t.equal(np.ok, true);
  t.equal(np.complete, true);
  t.match(
    np.detail,
    /^nodePort 30053\/udp answers open on all 2 node\(s\) where they were scanned\. Not scanned: \[2001:db8:a::11\]:30053\/udp \(this host's own\)\.$/,
  );
  // A nodePort of one family is not expected on the other.
  const single = nodePortVerdict(
    [{ port: 30001, family: "ipv4" }],
    [port("198.51.100.11", 30001, "tcp", "open"), port("198.51.100.12", 30001, "tcp", "open")],
    [],
    nodes,
    { cluster },
  );
  t.equal(single.ok, true);
  t.same(
    single.families?.map((f) => f.family),
    ["ipv4"],
  );
  t.same(single.notProbed, []);
});

t.test("check: bad node and nodePort input, one line and exit 2", async (t) => {
  for (const [args, message] of [
    [["--nodes", "n1=198.51.100.0/28"], /a named node takes single addresses/],
    [["--nodes", "n1=198.51.100.11,198.51.100.12"], /node n1 has two IPv4 addresses/],
    [["--nodes", "a=198.51.100.11,b=198.51.100.11"], /198\.51\.100\.11 is given for two nodes, a and b/],
    [["--nodes", "198.51.100.11", "--node-port", "30000/sctp"], /invalid port "30000\/sctp"/],
    [
      ["--nodes", "198.51.100.11", "--node-port", "30000/ipv6"],
      /nodePort 30000\/ipv6: no node has an IPv6 address/,
    ],
    [["--nodes", "2001:db8::%eth0"], /zone index/],
  ] as const) {
    const r = await cli(["check", ...args, "--dns", "198.51.100.53"]);
    t.equal(r.code, 2, `${args.join(" ")}: exit 2`);
    t.match(r.stderr, message);
    t.equal(r.stderr.trim().split("\n").length, 1, "one line");
  }
});

t.test("check in an IPv6-only cluster: ndisc6 and nmap -6 agree", async (t) => {
  const lab = await withLab(t, { name: "chk6", ipv6: true });
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.router("r", [
    [a, "2001:db8:a::1/64"],
    [b, "2001:db8:b::1/64"],
  ]);
  await router.sysctl("net.ipv6.conf.all.forwarding", "1");
  const node = async (name: string, segment: typeof a, address: string, gateway: string) => {
    const h = await lab.host(name);
    await h.connect(segment, { address: `${address}/64` });
    await h.route(["::/0", "via", gateway]);
    await h.sysctl("net.ipv6.icmp.ratelimit", "0");
    return h;
  };
  const node1 = await node("node1", a, "2001:db8:a::11", "2001:db8:a::1");
  const node2 = await node("node2", a, "2001:db8:a::12", "2001:db8:a::1");
  const node3 = await node("node3", a, "2001:db8:a::13", "2001:db8:a::1");
  const node4 = await node("node4", b, "2001:db8:b::14", "2001:db8:b::1");
  const dns = await node("dns", a, "2001:db8:a::53", "2001:db8:a::1");
  await node("outside", b, "2001:db8:b::100", "2001:db8:b::1");
  listenTcp(node2, 30000, "::");
  await node3.nft(
    "table inet wp {\n  chain input { type filter hook input priority 0; policy accept; tcp dport 30000 drop; }\n}\n",
  );
  await node4.nft(
    "table inet wp {\n  chain input { type filter hook input priority 0; policy accept; tcp dport 30000 reject with tcp reset; }\n}\n",
  );
  await startDnsmasq(dns, "2001:db8:a::53", [RECORD]);
  await waitListening(node2, "t", 30000);
  const nodes = ["2001:db8:a::11", "2001:db8:a::12", "2001:db8:a::13", "2001:db8:b::14"];
  const args = [
    "check",
    "--netns",
    node1.ns,
    "--nodes",
    nodes.join(","),
    "--node-port",
    "30000",
    "--dns",
    "2001:db8:a::53",
    "--dns-name",
    NAME,
    "--external",
    "2001:db8:b::100",
    "--timeout",
    "1000",
  ];
  const r = await cli([...args, "--json"]);
  t.equal(r.code, 1, `two failed verdicts: exit 1 (${r.stderr.trim()})`);
  const records = parse(r.stdout);
  const summary = records.at(-1) as SummaryRecord;
  t.same(summary.states, { ok: 1, failed: 2, incomplete: 0 });

  const hostGw = verdict(records, "host-gw");
  t.equal(hostGw.ok, false);
  t.same(hostGw.families, [{ family: "ipv6", ok: false, complete: true, detail: hostGw.detail }]);
  t.match(
    hostGw.detail,
    /^2001:db8:b::14 is not on-link \(the kernel routes it via 2001:db8:a::1\): `ip -6 route add/,
  );
  t.ok(
    hostGw.evidence.every((e) => e.family === "ipv6"),
    "every finding is about an IPv6 address",
  );
  // ndisc6 from node1 on its segment: an answer exactly where wireprobe's NDP got one, with the same MAC.
  t.equal(arpOf(records, "2001:db8:a::11")?.state, "local");
  for (const target of nodes.slice(1)) {
    const ours = arpOf(records, target);
    const oracle = await ndisc6(node1, target);
    t.equal(ours?.protocol, "ndp", `${target}: asked with NDP`);
    t.equal(
      ours?.state === "reply",
      oracle.length > 0,
      `${target}: ${ours?.state}, ndisc6 ${oracle.length > 0 ? "answered" : "did not"}`,
    );
    t.same(ours?.macs ?? [], [...new Set(oracle)], `${target}: the MACs ndisc6 printed`);
  }

  const nodeport = verdict(records, "nodeport");
  t.equal(nodeport.ok, false);
  t.match(
    nodeport.detail,
    /^nodePort 30000 answers only on 2001:db8:a::12, not on 2001:db8:a::11 \(closed\), 2001:db8:a::13 \(filtered\) and 2001:db8:b::14 \(closed\)/,
  );
  t.ok(
    nodeport.evidence.some((e) => e.subject === "[2001:db8:b::14]:30000"),
    "IPv6 endpoints in brackets",
  );
  const nmap = await nmapStates(node1, ["-6", "-sS"], 30000, nodes.slice(1));
  for (const target of nodes.slice(1))
    t.equal(
      portOf(records, target, 30000)?.state,
      nmap.get(target),
      `${target}: ${nmap.get(target)}, as nmap -6`,
    );
  // This node's own address: the kernel connects to itself, nmap -6 -sT does the same.
  const self = await nmapStates(node1, ["-6", "-sT"], 30000, ["2001:db8:a::11"]);
  t.equal(
    portOf(records, "2001:db8:a::11", 30000)?.state,
    self.get("2001:db8:a::11"),
    "own address: as nmap -6 -sT",
  );

  const dnsV = verdict(records, "dns");
  t.equal(dnsV.ok, true, "a DNS server at an IPv6 address answers");
  t.same(
    dnsV.families?.map((f) => f.family),
    ["ipv6"],
  );
  t.ok(
    records.some((x) => x.type === "ping" && (x as PingRecord).state === "reply"),
    "ICMPv6 to the outside",
  );

  const human = await cli(args);
  t.equal(human.code, 1);
  t.match(human.stdout, /^NODE\s+NDP \(layer 2\)\s+30000\/tcp$/m);
  t.match(human.stdout, /^2001:db8:b::14\s+not-on-link \(via 2001:db8:a::1\)\s+closed \(reset\)$/m);
  t.match(
    human.stdout,
    /^ {2}FAIL {2}host-gw {3}2001:db8:b::14 is not on-link/m,
    "one family: one line per verdict",
  );
});
