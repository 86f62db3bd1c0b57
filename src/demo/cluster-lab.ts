import type { Host } from "../lab";
import { Lab } from "../lab";

// A small cluster in network namespaces that reproduces the three classic failures of a badly planned
// container network, for `wireprobe demo` and the check's end-to-end tests. Everything lives in lab
// namespaces; the host namespace is never touched.
//
//   segment "nodes" 198.51.100.0/24   node1 .11 (runs the check)  node2 .12  node3 .13  router .1
//                                     dns1 .53  dns2 .54  dns3 .55
//   segment "far"   203.0.113.0/24    router .1  node4 .14          (broken layout: a node behind a router)
//   segment "ext"   198.18.0.0/24     router .1  "the outside world" .100 (answers ping)
//
// Dual-stack (`dualStack: true`): every host gets an IPv6 address as well (documentation prefix only, added
// without duplicate address detection), the same host number in 2001:db8:1::/64 (nodes), 2001:db8:2::/64
// (far) and 2001:db8:3::/64 (ext), and the nodes are named (node1=198.51.100.11,2001:db8:1::11), so each
// failure shows on both families.
//
// Broken layout: node4 sits behind the router (host-gw impossible); nodePort 30000 answers only on node2,
// where its pod runs, node1 and node3 drop it and node4 rejects it; dns2 serves a different address for
// redis.db.svc.cluster.local than dns1; dns3 rejects DNS. Healthy layout: all four nodes on one segment,
// the port open everywhere, dns1 and dns2 serving the same records, no dns3.

export type ClusterLayout = "broken" | "healthy";

export const NODE_PORT = 30000;
export const SERVICE_NAMES = ["kubernetes.default.svc.cluster.local", "redis.db.svc.cluster.local"];
export const EXTERNAL = "198.18.0.100";
export const EXTERNAL6 = "2001:db8:3::100";

export interface ClusterLabOptions {
  /** give every host an IPv6 address too, and name the nodes (default false) */
  dualStack?: boolean;
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
  dnsServers: string[];
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

function dnsmasq(host: Host, addresses: readonly string[], records: Record<string, string>): void {
  host.spawn("dnsmasq", [
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

    const dnsAt = (n: number) => (dual ? [`198.51.100.${n}`, v6(1, n)] : [`198.51.100.${n}`]);
    const dns1 = await node("dns1", "198.51.100.53", 53);
    dnsmasq(dns1, dnsAt(53), RECORDS.dns1!);
    const dns2 = await node("dns2", "198.51.100.54", 54);
    dnsmasq(dns2, dnsAt(54), broken ? RECORDS.dns2! : RECORDS.dns1!);
    const dnsServers = [...dnsAt(53), ...dnsAt(54)];
    if (broken) {
      const dns3 = await node("dns3", "198.51.100.55", 55);
      await dns3.nft(rejectDns);
      dnsServers.push(...dnsAt(55));
    }

    if (broken) {
      listen(node2, NODE_PORT, dual);
      await node1.nft(dropPort(NODE_PORT));
      await node3.nft(dropPort(NODE_PORT));
      await node4.nft(rejectPort(NODE_PORT));
      await waitForPort(node2, "tcp", NODE_PORT);
    } else {
      for (const h of [node1, node2, node3, node4]) listen(h, NODE_PORT, dual);
      for (const h of [node1, node2, node3, node4]) await waitForPort(h, "tcp", NODE_PORT);
    }
    // dnsmasq with --bind-interfaces opens a socket per address
    await waitForPort(dns1, "udp", 53, dual ? 2 : 1);
    await waitForPort(dns2, "udp", 53, dual ? 2 : 1);

    const v4Nodes = [
      "198.51.100.11",
      "198.51.100.12",
      "198.51.100.13",
      broken ? "203.0.113.14" : "198.51.100.14",
    ];
    const v6Nodes = [v6(1, 11), v6(1, 12), v6(1, 13), broken ? v6(2, 14) : v6(1, 14)];
    const names = ["node1", "node2", "node3", "node4"];
    return {
      lab: l,
      layout,
      dualStack: dual,
      node: node1,
      nodes: dual ? names.flatMap((n, i) => [`${n}=${v4Nodes[i]}`, `${n}=${v6Nodes[i]}`]) : v4Nodes,
      nodeAddresses: dual ? names.flatMap((_, i) => [v4Nodes[i]!, v6Nodes[i]!]) : v4Nodes,
      dnsServers,
      nodePorts: [NODE_PORT],
      dnsNames: [...SERVICE_NAMES],
      external: dual ? [EXTERNAL, EXTERNAL6] : [EXTERNAL],
    };
  } catch (err) {
    if (!lab) await l.destroy();
    throw err;
  }
}
