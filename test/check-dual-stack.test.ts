// `wireprobe check` in a dual-stack cluster where one node is on the checking node's segment over IPv4 but
// behind a router over IPv6: not adjacent, said per family. Oracles in the checking node's namespace: arping
// (IPv4 adjacency), ndisc6 (IPv6 adjacency), nmap -sS and nmap -6 -sS (nodePort states). The node list comes
// from --nodes (NAME=IPV4,IPV6) and from a -iL file shaped as kubectl's jsonpath prints it.
//
//   segment a 198.51.100.0/24 and 2001:db8:a::/64: node1 .11/::11 (runs the check), node2 .12/::12, dns
//     .53/::53, router .1/::1, node3's IPv4 address .13; segment b 2001:db8:b::/64: router ::1, node3's IPv6
//     address ::13. 30000 listens on both families on every node, 30001 on IPv4 only (a SingleStack IPv4
//     Service).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import type { Lab } from "../src/lab";
import type { SummaryRecord } from "../src/records";
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
import { arpingOracle } from "./helpers/oracles";

async function dualStackLab(lab: Lab) {
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.router("r", [
    [a, ["198.51.100.1/24", "2001:db8:a::1/64"]],
    [b, "2001:db8:b::1/64"],
  ]);
  await router.sysctl("net.ipv6.conf.all.forwarding", "1");
  const host = async (name: string, addresses: string[]) => {
    const h = await lab.host(name);
    await h.connect(a, { address: addresses });
    await h.route(["default", "via", "198.51.100.1"]);
    await h.route(["::/0", "via", "2001:db8:a::1"]);
    await h.sysctl("net.ipv6.icmp.ratelimit", "0");
    return h;
  };
  const node1 = await host("node1", ["198.51.100.11/24", "2001:db8:a::11/64"]);
  const node2 = await host("node2", ["198.51.100.12/24", "2001:db8:a::12/64"]);
  const dns = await host("dns", ["198.51.100.53/24", "2001:db8:a::53/64"]);
  // node3: on node1's segment over IPv4, behind the router over IPv6
  const node3 = await lab.host("node3");
  await node3.connect(a, { ifname: "eth0", address: "198.51.100.13/24" });
  await node3.connect(b, { ifname: "eth1", address: "2001:db8:b::13/64" });
  await node3.route(["default", "via", "198.51.100.1"]);
  await node3.route(["::/0", "via", "2001:db8:b::1"]);
  for (const h of [node1, node2, node3]) {
    listenTcp(h, 30000, "::");
    listenTcp(h, 30001, "0.0.0.0");
  }
  await startDnsmasq(dns, "198.51.100.53,2001:db8:a::53", [RECORD]);
  for (const h of [node1, node2, node3]) {
    await waitListening(h, "t", 30000);
    await waitListening(h, "t", 30001);
  }
  return { node1, node2, node3 };
}

t.test("check in a dual-stack cluster: a node adjacent over IPv4 only is not adjacent", async (t) => {
  const lab = await withLab(t, { name: "chkds", ipv6: true });
  const { node1 } = await dualStackLab(lab);
  const dir = mkdtempSync(join(tmpdir(), "wp-check6-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const common = [
    "check",
    "--netns",
    node1.ns,
    "--dns",
    "198.51.100.53,2001:db8:a::53",
    "--dns-name",
    NAME,
    "--timeout",
    "1000",
  ];
  const nodesArg =
    "node1=198.51.100.11,2001:db8:a::11,node2=198.51.100.12,2001:db8:a::12,node3=198.51.100.13,2001:db8:b::13";
  const r = await cli([...common, "--nodes", nodesArg, "--node-port", "30000,30001", "--json"]);
  t.equal(r.code, 1, r.stderr.trim());
  const records = parse(r.stdout);
  t.equal((records.at(-1) as SummaryRecord).targets, 3, "three nodes (six addresses)");

  const hostGw = verdict(records, "host-gw");
  t.equal(hostGw.ok, false, "not adjacent: IPv6 fails");
  t.same(
    hostGw.families?.map((f) => [f.family, f.ok, f.complete]),
    [
      ["ipv4", true, true],
      ["ipv6", false, true],
    ],
  );
  t.match(
    hostGw.detail,
    /IPv6: node3 \(2001:db8:b::13\) is not on-link \(the kernel routes it via 2001:db8:a::1\)/,
  );
  t.match(
    hostGw.detail,
    /node3 is on this node's segment over IPv4 only: a dual-stack node is adjacent only if both/,
  );
  t.match(hostGw.fix, /^IPv6: /);
  const far = hostGw.evidence.find((e) => e.subject === "2001:db8:b::13");
  t.same([far?.family, far?.node], ["ipv6", "node3"]);
  // The oracles: arping answers for node3's IPv4 address, ndisc6 nothing for its IPv6 one on this segment.
  const arping = await arpingOracle(node1, "eth0", "198.51.100.13");
  t.equal(arpOf(records, "198.51.100.13")?.state, "reply");
  t.ok(arping.replied, "arping: node3 answers ARP");
  t.same(arpOf(records, "198.51.100.13")?.macs, arping.macs, "the MAC arping printed");
  t.same(await ndisc6(node1, "2001:db8:b::13"), [], "ndisc6: no neighbour advertisement for 2001:db8:b::13");
  t.equal(arpOf(records, "2001:db8:b::13")?.state, "not-on-link");
  const ndisc = await ndisc6(node1, "2001:db8:a::12");
  t.same(arpOf(records, "2001:db8:a::12")?.macs, ndisc, "node2's IPv6 address: the MAC ndisc6 printed");

  // 30000 answers on both families, 30001 (an IPv4 SingleStack Service) on IPv4 only.
  const nodeport = verdict(records, "nodeport");
  t.equal(nodeport.ok, false);
  t.same(
    nodeport.families?.map((f) => [f.family, f.ok]),
    [
      ["ipv4", true],
      ["ipv6", false],
    ],
  );
  t.match(nodeport.detail, /IPv6: nodePort 30001 answers on no node/);
  t.match(
    nodeport.detail,
    /answer nodePort 30001 over IPv4 but not over IPv6: .*--node-port 30001\/tcp\/ipv4/,
  );
  const v4 = ["198.51.100.11", "198.51.100.12", "198.51.100.13"];
  const v6 = ["2001:db8:a::12", "2001:db8:b::13"];
  for (const port of [30000, 30001]) {
    const nmap4 = await nmapStates(node1, ["-sS"], port, v4.slice(1));
    const nmap6 = await nmapStates(node1, ["-6", "-sS"], port, v6);
    for (const [target, state] of [...nmap4, ...nmap6])
      t.equal(portOf(records, target, port)?.state, state, `${target}:${port} ${state}, as nmap`);
  }

  // The same cluster from a node list file (what kubectl's jsonpath prints), the IPv4-only Service said so.
  const list = join(dir, "nodes.txt");
  writeFileSync(
    list,
    "# name and InternalIPs\nnode1=198.51.100.11 2001:db8:a::11\nnode2=198.51.100.12 2001:db8:a::12\nnode3=198.51.100.13 2001:db8:b::13\n",
  );
  const again = await cli([...common, "-iL", list, "--node-port", "30000,30001/ipv4", "--json"]);
  const nodeport2 = verdict(parse(again.stdout), "nodeport");
  t.equal(nodeport2.ok, true, "30001/ipv4: checked on the IPv4 addresses only");
  t.same(nodeport2.notProbed, []);
  t.equal(verdict(parse(again.stdout), "host-gw").ok, false, "the list file groups each line into one node");

  const human = await cli([...common, "-iL", list, "--node-port", "30000,30001/ipv4"]);
  t.equal(human.code, 1);
  const lines = human.stdout.split("\n");
  t.match(lines[1], /^ {2}FAIL {2}host-gw {3}IPv4 {2}ok {4}All 2 peer node\(s\)/);
  t.match(lines[2], /^ {18}IPv6 {2}FAIL {2}node3 \(2001:db8:b::13\) is not on-link/);
  t.match(human.stdout, /^NODE\s+ADDRESS\s+ARP\/NDP \(layer 2\)\s+30000\/tcp\s+30001\/tcp\/ipv4$/m);
  t.match(human.stdout, /^node3\s+198\.51\.100\.13\s+reply \S+\s+open \(syn-ack\)\s+open \(syn-ack\)$/m);
  t.match(human.stdout, /^\s+2001:db8:b::13\s+not-on-link \(via 2001:db8:a::1\)\s+open \(syn-ack\)\s+-$/m);
  t.match(human.stdout, /^ {2}host-gw: IPv6: /m, "the fix names the family");
});
