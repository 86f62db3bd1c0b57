import type { ChildProcess } from "node:child_process";
import type { Host } from "../lab";
import { Lab } from "../lab";

// A small cluster in network namespaces that reproduces six failures of a badly planned container network,
// for `wireprobe demo` and the check's end-to-end tests. Everything lives in lab namespaces; the host
// namespace is never touched.
//
//   segment "nodes" 198.51.100.0/24   node1 .11 (runs the check)  node2 .12  node3 .13  router .1
//                                     dns1 .53 (+ .153, its DNS Service endpoint)  dns2 .54 (+ .154)  dns3 .55
//   segment "far"   203.0.113.0/24    router .1  node4 .14          (broken layout: a node behind a router)
//   segment "ext"   198.18.0.0/24     router .1  "the outside world" .100 (answers ping)
//   pod CIDRs       198.18.12.0/24 node2, .13 node3, .14 node4 (host-gw routes in node1)
//   DNS Service     VIP 198.18.53.10, DNATed by node1 (as kube-proxy does) to the endpoints .153 / .154
//
// Dual-stack (`dualStack: true`): every host gets an IPv6 address as well (documentation prefix only, added
// without duplicate address detection), the same host number in 2001:db8:1::/64 (nodes), 2001:db8:2::/64
// (far) and 2001:db8:3::/64 (ext), and the nodes are named (node1=198.51.100.11,2001:db8:1::11), so each
// failure shows on both families.
//
// Broken layout: node4 sits behind the router (host-gw impossible); nodePort 30000 answers only on node2,
// where its pod runs, node1 and node3 drop it and node4 rejects it; dns2 serves a different address for
// redis.db.svc.cluster.local than dns1; dns3 rejects DNS. And the three that hide:
// - MTU black hole: the far segment has MTU 1400 (the router's leg and node4) and the router drops its own
//   frag-needed / packet-too-big errors, so packets above 1400 bytes to node4 vanish (verdict mtu).
// - A stale host-gw route: node1 routes 198.18.15.0/24 via 198.51.100.15, where nobody answers (verdict
//   routes); node4's pod CIDR has no route at all (the kernel refuses a gateway behind a router).
// - The 5-second DNS race: the DNS Service VIP goes to dns1's endpoint only, and dns1 drops half of the second
//   packets of a tuple (source address and port) arriving within 5 ms of the first on it: what conntrack's
//   insert clash does to glibc's A/AAAA pairs (this kernel does not race on its own: see
//   test/helpers/dns-race-lab.ts). Only the endpoint address has the rule, so the servers asked directly
//   show no race; the drop is on dns1 because a drop in node1's own output is reported to the sender, which
//   sends again (verdict dns).
// Healthy layout: all four nodes on one segment at MTU 1500, the port open everywhere, dns1 and dns2 serving
// the same records, no dns3, a route to each peer's pod CIDR and no stale one, the VIP DNATed to both
// endpoints at random, nothing dropped.
//
// `fifthNode: true` adds node5 (.16, pod CIDR 198.18.16.0/24) on the nodes segment, a node like node3 (in
// broken, the nodePort dropped there). repairClusterLab() fixes a broken lab in place, the way an operator
// would: node4 moved onto the nodes segment (its new address .14, as in healthy), the nodePort opened on
// every node, dns2 serving dns1's records, dns3 answering with them too, node1's routes and the DNS
// Service as in healthy, no race drop. Only the far segment's MTU stays (no node is left there).

export type ClusterLayout = "broken" | "healthy";

export const NODE_PORT = 30000;
export const SERVICE_NAMES = ["kubernetes.default.svc.cluster.local", "redis.db.svc.cluster.local"];
export const EXTERNAL = "198.18.0.100";
export const EXTERNAL6 = "2001:db8:3::100";
/** the cluster DNS Service's VIP (dual-stack: and DNS_VIP6), DNATed in node1 to the DNS servers' endpoints */
export const DNS_VIP = "198.18.53.10";
export const DNS_VIP6 = "2001:db8:53::10";
/** A/AAAA pairs of each kind the demo races per DNS server: below ~40 a 50% drop sometimes loses too few */
export const DNS_RACE_PAIRS = 50;
/** the overlay the demo's CNI is said to use (the mtu fix subtracts its overhead) */
export const OVERLAY = "vxlan";
/** the broken layout's far segment MTU (the router's leg and node4) */
export const FAR_MTU = 1400;

export interface ClusterLabOptions {
  /** give every host an IPv6 address too, and name the nodes (default false) */
  dualStack?: boolean;
  /** add node5 (198.51.100.16) on the nodes segment (default false: four nodes) */
  fifthNode?: boolean;
}

export interface ClusterLab {
  lab: Lab;
  layout: ClusterLayout;
  dualStack: boolean;
  /** the node namespace the check runs in */
  node: Host;
  /**
   * the nodes as check takes them: addresses, or with dual-stack `NAME=ADDR` twice per node (IPv4, IPv6),
   * which --nodes takes as they are (comma-separated)
   */
  nodes: string[];
  /** every node address (IPv4 first within a node) */
  nodeAddresses: string[];
  /** the nodes' names, node1 first */
  nodeNames: string[];
  /** every node address as `NAME=ADDR` (one entry per address, IPv4 first within a node): a -iL file's lines */
  namedNodes: string[];
  /** true once repairClusterLab() fixed the broken layout */
  repaired: boolean;
  /** the DNS servers: dns1, dns2 (dns3 in broken), then the DNS Service VIP(s) */
  dnsServers: string[];
  /** the DNS Service VIP(s), also in dnsServers */
  dnsVips: string[];
  /** A/AAAA pairs per DNS server for the check's race (--dns-race) */
  dnsRace: number;
  /** the overlay for the check's mtu fix (--overlay; the check also gets --mtu and --routes) */
  overlay: string;
  nodePorts: number[];
  dnsNames: string[];
  external: string[];
}

const RECORDS: Record<string, Record<string, string>> = {
  dns1: { "kubernetes.default.svc.cluster.local": "198.18.1.1", "redis.db.svc.cluster.local": "198.18.1.20" },
  dns2: { "kubernetes.default.svc.cluster.local": "198.18.1.1", "redis.db.svc.cluster.local": "198.18.1.21" },
};

/**
 * A TCP listener that stands for a pod behind a nodePort: accepts and closes (on "::", both families). A
 * connection reset by its client (a connect scan resets at once) must not end it.
 */
function listen(host: Host, port: number, dualStack: boolean): void {
  host.spawn(process.execPath, [
    "-e",
    `require("node:net").createServer((s) => { s.on("error", () => {}); s.end(); }).listen(${port}, "${dualStack ? "::" : "0.0.0.0"}")`,
  ]);
}

function dnsmasq(host: Host, addresses: readonly string[], records: Record<string, string>): ChildProcess {
  return host.spawn("dnsmasq", [
    "--keep-in-foreground",
    "--no-resolv",
    "--no-hosts",
    "--conf-file=/dev/null",
    "--pid-file=",
    "--user=root",
    "--bind-interfaces",
    `--listen-address=${addresses.join(",")}`,
    "--port=53",
    ...Object.entries(records).map(([name, ip]) => `--host-record=${name},${ip}`),
  ]);
}

async function waitForPort(host: Host, proto: "tcp" | "udp", port: number, count = 1): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await host.exec("ss", ["-Hln", proto === "tcp" ? "-t" : "-u", `sport = :${port}`], {
      reject: false,
    });
    if (r.stdout.trim().split("\n").filter(Boolean).length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on ${proto}/${port} in ${host.ns}`);
}

// `inet` tables: the same rules for IPv4 and IPv6.
const dropPort = (port: number) => `table inet wpdemo {
  chain input { type filter hook input priority 0; policy accept; tcp dport ${port} drop; }
}`;
const rejectPort = (port: number) => `table inet wpdemo {
  chain input { type filter hook input priority 0; policy accept; tcp dport ${port} reject with tcp reset; }
}`;
const rejectDns = `table inet wpdemo {
  chain input { type filter hook input priority 0; policy accept; udp dport 53 reject; tcp dport 53 reject with tcp reset; }
}`;
// The router sends no frag-needed / packet-too-big of its own: a black hole for what the far leg cannot carry.
const dropPmtuErrors = `table inet wpmtu {
  chain output {
    type filter hook output priority 0; policy accept;
    icmp type destination-unreachable icmp code frag-needed drop
    icmpv6 type packet-too-big drop
  }
}`;
/** kube-proxy's DNAT of the DNS Service, in node1's own output (its pods' queries would take prerouting). */
function dnsService(endpoints4: readonly string[], endpoints6: readonly string[]): string {
  const to = (family: "ip" | "ip6", eps: readonly string[]) =>
    eps.length === 1
      ? `dnat ${family} to ${eps[0]}`
      : `dnat ${family} to numgen random mod ${eps.length} map { ${eps.map((e, i) => `${i} : ${e}`).join(", ")} }`;
  return `table inet wpsvc {
  chain output {
    type nat hook output priority -100;
    ip daddr ${DNS_VIP} meta l4proto { tcp, udp } th dport 53 ${to("ip", endpoints4)}
${endpoints6.length > 0 ? `    ip6 daddr ${DNS_VIP6} meta l4proto { tcp, udp } th dport 53 ${to("ip6", endpoints6)}\n` : ""}  }
}`;
}
/**
 * The race, on the endpoint: the second UDP packet of a tuple to it within 5 ms of the first is dropped half
 * of the time (numgen random mod 2: the chance that two racing packets picked different backends).
 */
function dnsRaceDrop(endpoint4: string, endpoint6: string | null): string {
  return `table inet wprace {
  set seen4 { type ipv4_addr . inet_service; flags dynamic, timeout; timeout 5ms; }
  set seen6 { type ipv6_addr . inet_service; flags dynamic, timeout; timeout 5ms; }
  chain input {
    type filter hook input priority mangle;
    ip daddr ${endpoint4} udp dport 53 ip saddr . udp sport @seen4 numgen random mod 2 1 counter drop
    ip daddr ${endpoint4} udp dport 53 add @seen4 { ip saddr . udp sport }
${
  endpoint6 === null
    ? ""
    : `    ip6 daddr ${endpoint6} udp dport 53 ip6 saddr . udp sport @seen6 numgen random mod 2 1 counter drop
    ip6 daddr ${endpoint6} udp dport 53 add @seen6 { ip6 saddr . udp sport }
`
}  }
}`;
}

/** What repairClusterLab needs beyond the public fields: the DNS servers' processes. */
const internals = new WeakMap<ClusterLab, { dnsmasqs: Map<string, ChildProcess> }>();

const v6Of = (segment: number, host: number) => `2001:db8:${segment}::${host}`;

/** node1's host-gw route to node n's pod CIDR (198.18.n.0/24 via .n, dual-stack 2001:db8:n::/64 too). */
async function podRoute(node1: Host, op: "add" | "del", n: number, dual: boolean): Promise<void> {
  await node1.ip(["route", op, `198.18.${n}.0/24`, "via", `198.51.100.${n}`]);
  if (dual) await node1.ip(["-6", "route", op, `2001:db8:${n}::/64`, "via", v6Of(1, n)]);
}

/** The node fields of a ClusterLab from the names and addresses (v6 null: single-stack). */
function nodeLists(
  names: string[],
  v4: string[],
  v6: string[] | null,
): Pick<ClusterLab, "nodes" | "nodeAddresses" | "nodeNames" | "namedNodes"> {
  const named = names.flatMap((n, i) => [`${n}=${v4[i]}`, ...(v6 ? [`${n}=${v6[i]}`] : [])]);
  return {
    nodes: v6 ? named : [...v4],
    nodeAddresses: names.flatMap((_, i) => [v4[i]!, ...(v6 ? [v6[i]!] : [])]),
    nodeNames: [...names],
    namedNodes: named,
  };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  await exited;
}

/**
 * Repairs a broken cluster lab in place, as an operator would (see the comment at the top): node4 leaves the
 * far segment for the nodes segment (198.51.100.14, dual-stack 2001:db8:1::14: the lab's `nodes`,
 * `nodeAddresses` and `namedNodes` change), nodePort 30000 opens on every node, dns2 and dns3 serve dns1's
 * records, node1's pod routes and DNS Service are the healthy layout's. Resolves when everything listens.
 */
export async function repairClusterLab(cluster: ClusterLab): Promise<void> {
  const inner = internals.get(cluster);
  if (cluster.layout !== "broken" || cluster.repaired || !inner)
    throw new Error("repairClusterLab repairs a broken cluster lab once");
  const { lab, dualStack: dual } = cluster;
  const host = (name: string): Host => {
    const h = lab.hosts.get(name);
    if (!h) throw new Error(`the cluster lab has no ${name}`);
    return h;
  };
  const nodesSeg = lab.segments.get("nodes")!;
  const node1 = host("node1");
  const nodes = cluster.nodeNames.map(host);

  // node4 moves: unplugged from the far segment (its address and routes go with the veth), plugged into
  // the nodes segment at a new address, MTU 1500.
  const node4 = host("node4");
  await node4.disconnect("eth0");
  await node4.connect(nodesSeg, {
    address: dual ? ["198.51.100.14/24", `${v6Of(1, 14)}/64`] : ["198.51.100.14/24"],
  });
  await node4.route(["default", "via", "198.51.100.1"]);
  if (dual) await node4.route(["::/0", "via", v6Of(1, 1)]);

  // The nodePort on every node: the firewalls go, a listener where there is none (node2 has its own).
  for (const h of nodes) {
    if (h.name === "node2") continue;
    await h.exec("nft", ["delete", "table", "inet", "wpdemo"]);
    listen(h, NODE_PORT, dual);
  }
  for (const h of nodes) await waitForPort(h, "tcp", NODE_PORT);

  // dns2 restarted with dns1's records; dns3 stops refusing and serves them too.
  const dnsAt = (n: number) => (dual ? [`198.51.100.${n}`, v6Of(1, n)] : [`198.51.100.${n}`]);
  const dns2 = host("dns2");
  const old = inner.dnsmasqs.get("dns2");
  if (old) await stopProcess(old);
  inner.dnsmasqs.set("dns2", dnsmasq(dns2, [...dnsAt(54), ...dnsAt(154)], RECORDS.dns1!));
  const dns3 = host("dns3");
  await dns3.exec("nft", ["delete", "table", "inet", "wpdemo"]);
  inner.dnsmasqs.set("dns3", dnsmasq(dns3, dnsAt(55), RECORDS.dns1!));

  // node1: the healthy layout's pod routes (node4's, not the stale .15) and DNS Service; dns1 races no more.
  await podRoute(node1, "del", 15, dual);
  await podRoute(node1, "add", 14, dual);
  await node1.exec("nft", ["delete", "table", "inet", "wpsvc"]);
  await node1.nft(dnsService(["198.51.100.153", "198.51.100.154"], dual ? [v6Of(1, 153), v6Of(1, 154)] : []));
  await host("dns1").exec("nft", ["delete", "table", "inet", "wprace"]);

  await waitForPort(dns2, "udp", 53, dual ? 4 : 2);
  await waitForPort(dns3, "udp", 53, dual ? 2 : 1);

  const i4 = cluster.nodeNames.indexOf("node4");
  const v4 = cluster.nodeNames.map((_, i) =>
    i === i4 ? "198.51.100.14" : cluster.nodeAddresses[dual ? 2 * i : i]!,
  );
  const v6 = dual
    ? cluster.nodeNames.map((_, i) => (i === i4 ? v6Of(1, 14) : cluster.nodeAddresses[2 * i + 1]!))
    : null;
  Object.assign(cluster, nodeLists(cluster.nodeNames, v4, v6), { repaired: true });
}

/** Builds the lab; the caller owns it and must destroy it (lab.destroy()). */
export async function buildClusterLab(
  layout: ClusterLayout,
  lab?: Lab,
  options: ClusterLabOptions = {},
): Promise<ClusterLab> {
  const dual = options.dualStack === true;
  const l = lab ?? (await Lab.create({ name: "demo", ipv6: dual }));
  if (dual && !l.ipv6) throw new Error("a dual-stack cluster lab needs a lab created with ipv6: true");
  try {
    // host number n on a segment: its IPv4 address and, dual-stack, its IPv6 one (CIDR form)
    const v6 = (segment: number, host: number) => `2001:db8:${segment}::${host}`;
    const at = (v4: string, segment: number, host: number, len = 24): string[] =>
      dual ? [`${v4}/${len}`, `${v6(segment, host)}/64`] : [`${v4}/${len}`];
    const nodesSeg = await l.segment("nodes");
    const far = await l.segment("far");
    const ext = await l.segment("ext");
    const router = await l.router("router", [
      [nodesSeg, at("198.51.100.1", 1, 1)],
      [far, at("203.0.113.1", 2, 1)],
      [ext, at("198.18.0.1", 3, 1)],
    ]);
    if (dual) await router.sysctl("net.ipv6.conf.all.forwarding", "1");
    const outside = await l.host("outside");
    await outside.connect(ext, { address: at(EXTERNAL, 3, 100) });
    await outside.route(["default", "via", "198.18.0.1"]);
    if (dual) await outside.route(["::/0", "via", v6(3, 1)]);

    const node = async (name: string, v4: string, n: number, onFar = false) => {
      const h = await l.host(name);
      const seg = onFar ? 2 : 1;
      await h.connect(onFar ? far : nodesSeg, { address: at(v4, seg, n) });
      await h.route(["default", "via", onFar ? "203.0.113.1" : "198.51.100.1"]);
      if (dual) await h.route(["::/0", "via", v6(seg, 1)]);
      return h;
    };
    const broken = layout === "broken";
    const node1 = await node("node1", "198.51.100.11", 11);
    const node2 = await node("node2", "198.51.100.12", 12);
    const node3 = await node("node3", "198.51.100.13", 13);
    const node4 = broken
      ? await node("node4", "203.0.113.14", 14, true)
      : await node("node4", "198.51.100.14", 14);
    const fifth = options.fifthNode === true;
    const node5 = fifth ? await node("node5", "198.51.100.16", 16) : null;

    const dnsAt = (n: number) => (dual ? [`198.51.100.${n}`, v6(1, n)] : [`198.51.100.${n}`]);
    // Each DNS server also has the address of its DNS Service endpoint (n + 100), where the VIP leads.
    const dnsmasqs = new Map<string, ChildProcess>();
    const dnsServer = async (name: string, n: number, records: Record<string, string>) => {
      const h = await node(name, `198.51.100.${n}`, n);
      for (const a of at(`198.51.100.${n + 100}`, 1, n + 100)) await h.addAddress("eth0", a);
      dnsmasqs.set(name, dnsmasq(h, [...dnsAt(n), ...dnsAt(n + 100)], records));
      return h;
    };
    const dns1 = await dnsServer("dns1", 53, RECORDS.dns1!);
    const dns2 = await dnsServer("dns2", 54, broken ? RECORDS.dns2! : RECORDS.dns1!);
    const dnsServers = [...dnsAt(53), ...dnsAt(54)];
    if (broken) {
      const dns3 = await node("dns3", "198.51.100.55", 55);
      await dns3.nft(rejectDns);
      // Refuse every query, however many (the race sends 200): no ICMP rate limit, so none shows as timeout.
      await dns3.sysctl("net.ipv4.icmp_ratelimit", "0");
      if (dual) await dns3.sysctl("net.ipv6.icmp.ratelimit", "0");
      dnsServers.push(...dnsAt(55));
    }

    const allNodes = node5 ? [node1, node2, node3, node4, node5] : [node1, node2, node3, node4];
    if (broken) {
      listen(node2, NODE_PORT, dual);
      await node1.nft(dropPort(NODE_PORT));
      await node3.nft(dropPort(NODE_PORT));
      await node4.nft(rejectPort(NODE_PORT));
      if (node5) await node5.nft(dropPort(NODE_PORT));
      await waitForPort(node2, "tcp", NODE_PORT);
    } else {
      for (const h of allNodes) listen(h, NODE_PORT, dual);
      for (const h of allNodes) await waitForPort(h, "tcp", NODE_PORT);
    }
    // The DNS Service: node1 DNATs the VIP to dns1's endpoint only in broken (dns2 serves another redis
    // record there), where dns1 plays the race; to both endpoints at random in healthy.
    const endpoints = broken ? [53] : [53, 54];
    await node1.route([`${DNS_VIP}/32`, "dev", "eth0"]);
    if (dual) await node1.route([`${DNS_VIP6}/128`, "dev", "eth0"]);
    await node1.nft(
      dnsService(
        endpoints.map((n) => `198.51.100.${n + 100}`),
        dual ? endpoints.map((n) => v6(1, n + 100)) : [],
      ),
    );
    if (broken) await dns1.nft(dnsRaceDrop("198.51.100.153", dual ? v6(1, 153) : null));
    const dnsVips = dual ? [DNS_VIP, DNS_VIP6] : [DNS_VIP];
    dnsServers.push(...dnsVips);

    // host-gw routes in node1 to the peers' pod CIDRs: in broken, node4's is missing (it is behind the
    // router, the kernel refuses the gateway) and one outlived its node (.15: nobody there).
    const peers = [...(broken ? [12, 13, 15] : [12, 13, 14]), ...(fifth ? [16] : [])];
    for (const n of peers) await podRoute(node1, "add", n, dual);

    // The MTU black hole on the way to node4 (broken): the far segment carries 1400, the router stays silent.
    if (broken) {
      await router.ip(["link", "set", "dev", "eth1", "mtu", String(FAR_MTU)]);
      await node4.ip(["link", "set", "dev", "eth0", "mtu", String(FAR_MTU)]);
      await router.nft(dropPmtuErrors);
    }

    // dnsmasq with --bind-interfaces opens a socket per address (its own and its endpoint's)
    await waitForPort(dns1, "udp", 53, dual ? 4 : 2);
    await waitForPort(dns2, "udp", 53, dual ? 4 : 2);

    const v4Nodes = [
      "198.51.100.11",
      "198.51.100.12",
      "198.51.100.13",
      broken ? "203.0.113.14" : "198.51.100.14",
      ...(fifth ? ["198.51.100.16"] : []),
    ];
    const v6Nodes = [
      v6(1, 11),
      v6(1, 12),
      v6(1, 13),
      broken ? v6(2, 14) : v6(1, 14),
      ...(fifth ? [v6(1, 16)] : []),
    ];
    const cluster: ClusterLab = {
      lab: l,
      layout,
      dualStack: dual,
      node: node1,
      ...nodeLists(
        allNodes.map((h) => h.name),
        v4Nodes,
        dual ? v6Nodes : null,
      ),
      repaired: false,
      dnsServers,
      dnsVips,
      dnsRace: DNS_RACE_PAIRS,
      overlay: OVERLAY,
      nodePorts: [NODE_PORT],
      dnsNames: [...SERVICE_NAMES],
      external: dual ? [EXTERNAL, EXTERNAL6] : [EXTERNAL],
    };
    internals.set(cluster, { dnsmasqs });
    return cluster;
  } catch (err) {
    if (!lab) await l.destroy();
    throw err;
  }
}
