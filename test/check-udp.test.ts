// `wireprobe check --node-port PORT/udp`: a UDP nodePort answered by a real UDP service on one node only, next
// to a TCP nodePort open everywhere, with nmap -sU in the checking node's namespace as the oracle; then the same
// over IPv4 and IPv6 in a dual-stack lab, with nmap -6 -sU for the IPv6 side.
//
//   segment a 198.51.100.0/24 (and 2001:db8:a::/64 in the dual-stack lab): node1 .11/::11 (runs the check;
//   nothing on udp/30053: port unreachable), node2 .12/::12 (a UDP echo service on 30053), node3 .13/::13
//   (drops udp/30053), node4 .14/::14 (nothing there), dns .53; 30000/tcp open on every node (IPv4 lab)

import t from "tap";
import type { Host } from "../src/lab";
import {
  cli,
  listenTcp,
  listenUdpEcho,
  NAME,
  nmapStates,
  parse,
  portOf,
  RECORD,
  verdict,
  waitListening,
} from "./helpers/check6";
import { startDnsmasq } from "./helpers/dns-lab";
import { withLab } from "./helpers/lab";

t.test("check: a UDP nodePort answered on one node only, as nmap -sU sees it", async (t) => {
  const lab = await withLab(t, "chkudp");
  const a = await lab.segment("a");
  const nodes = ["198.51.100.11", "198.51.100.12", "198.51.100.13", "198.51.100.14"];
  const hosts: Host[] = [];
  for (const [i, address] of nodes.entries()) {
    const h = await lab.host(`node${i + 1}`);
    await h.connect(a, { address: `${address}/24` });
    hosts.push(h);
  }
  const dns = await lab.host("dns");
  await dns.connect(a, { address: "198.51.100.53/24" });
  await startDnsmasq(dns, "198.51.100.53", [RECORD]);
  const [node1, node2, node3] = hosts as [Host, Host, Host, Host];
  for (const h of hosts) listenTcp(h, 30000, "0.0.0.0");
  listenUdpEcho(node2, 30053);
  await node3.nft(
    "table inet wp {\n  chain input { type filter hook input priority 0; policy accept; udp dport 30053 drop; }\n}\n",
  );
  for (const h of hosts) await waitListening(h, "t", 30000);
  await waitListening(node2, "u", 30053);
  const args = [
    "check",
    "--netns",
    node1.ns,
    "--nodes",
    nodes.join(","),
    "--node-port",
    "30000",
    "--node-port",
    "30053/udp",
    "--dns",
    "198.51.100.53",
    "--dns-name",
    NAME,
    "--timeout",
    "1000",
  ];
  const r = await cli([...args, "--json"]);
  t.equal(r.code, 1, r.stderr.trim());
  const records = parse(r.stdout);
  const nodeport = verdict(records, "nodeport");
  t.equal(nodeport.ok, false);
  t.match(
    nodeport.detail,
    /^nodePort 30053\/udp answers only on 198\.51\.100\.12, not on 198\.51\.100\.11 \(closed\), 198\.51\.100\.13 \(open\|filtered\) and 198\.51\.100\.14 \(closed\)/,
  );
  t.notMatch(nodeport.detail, /nodePort 30000 /, "the TCP nodePort answers everywhere");
  t.ok(
    nodeport.evidence.some((e) => e.subject === "198.51.100.13:30053/udp"),
    "UDP endpoints say so",
  );
  t.equal(portOf(records, "198.51.100.12", 30053, "udp")?.reason, "udp-response");
  const nmap = await nmapStates(node1, ["-sU"], 30053, nodes.slice(1));
  for (const target of nodes.slice(1))
    t.equal(
      portOf(records, target, 30053, "udp")?.state,
      nmap.get(target),
      `${target}: ${nmap.get(target)}, as nmap -sU`,
    );
  for (const target of nodes.slice(1)) t.equal(portOf(records, target, 30000)?.state, "open");

  const human = await cli(args);
  t.match(human.stdout, /^NODE\s+ARP \(layer 2\)\s+30000\/tcp\s+30053\/udp$/m);
  t.match(
    human.stdout,
    /^198\.51\.100\.13\s+reply \S+\s+open \(syn-ack\)\s+open\|filtered \(no-response\)$/m,
  );
});

t.test("check: a UDP nodePort over IPv4 and IPv6, as nmap -sU and nmap -6 -sU see it", async (t) => {
  const lab = await withLab(t, { name: "chkudp6", ipv6: true });
  const a = await lab.segment("a");
  const hosts: Host[] = [];
  for (const n of [11, 12, 13, 14]) {
    const h = await lab.host(`node${n - 10}`);
    await h.connect(a, { address: [`198.51.100.${n}/24`, `2001:db8:a::${n}/64`] });
    await h.sysctl("net.ipv6.icmp.ratelimit", "0");
    hosts.push(h);
  }
  const dns = await lab.host("dns");
  await dns.connect(a, { address: "198.51.100.53/24" });
  await startDnsmasq(dns, "198.51.100.53", [RECORD]);
  const [node1, node2, node3] = hosts as [Host, Host, Host, Host];
  listenUdpEcho(node2, 30053, "::");
  await node3.nft(
    "table inet wp {\n  chain input { type filter hook input priority 0; policy accept; udp dport 30053 drop; }\n}\n",
  );
  await waitListening(node2, "u", 30053);
  const nodes = [11, 12, 13, 14].map((n) => `node${n - 10}=198.51.100.${n},2001:db8:a::${n}`);
  const args = [
    "check",
    "--netns",
    node1.ns,
    "--nodes",
    nodes.join(","),
    "--node-port",
    "30053/udp",
    "--dns",
    "198.51.100.53",
    "--dns-name",
    NAME,
    "--timeout",
    "1000",
  ];
  const r = await cli([...args, "--json"]);
  t.equal(r.code, 1, r.stderr.trim());
  const records = parse(r.stdout);
  const nodeport = verdict(records, "nodeport");
  t.equal(nodeport.complete, true, "complete: this host's own IPv6 address is said, not missing");
  t.same(nodeport.notProbed, []);
  t.same(
    nodeport.families?.map((f) => [f.family, f.ok]),
    [
      ["ipv4", false],
      ["ipv6", false],
    ],
  );
  t.match(
    nodeport.detail,
    /IPv6: nodePort 30053\/udp answers only on node2 \(2001:db8:a::12\), not on node3 \(2001:db8:a::13, open\|filtered\) and node4 \(2001:db8:a::14, closed\)/,
  );
  t.match(nodeport.detail, /Not scanned: \[2001:db8:a::11\]:30053\/udp \(this host's own IPv6 address/);
  t.match(
    nodeport.evidence.find((e) => e.subject === "[2001:db8:a::11]:30053/udp"),
    {
      finding: /^not scanned: /,
      family: "ipv6",
      node: "node1",
    },
  );
  const v4 = ["198.51.100.12", "198.51.100.13", "198.51.100.14"];
  const v6 = ["2001:db8:a::12", "2001:db8:a::13", "2001:db8:a::14"];
  const nmap4 = await nmapStates(node1, ["-sU"], 30053, v4);
  const nmap6 = await nmapStates(node1, ["-6", "-sU"], 30053, v6);
  for (const [target, state] of [...nmap4, ...nmap6])
    t.equal(portOf(records, target, 30053, "udp")?.state, state, `${target}: ${state}, as nmap`);

  const human = await cli(args);
  t.match(human.stdout, /^\s+2001:db8:a::11\s+local\s+not scanned$/m, "the report says so");
  t.match(human.stdout, /^node3\s+198\.51\.100\.13\s+reply \S+\s+open\|filtered \(no-response\)$/m);
});
