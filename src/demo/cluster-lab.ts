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
// Broken layout: node4 sits behind the router (host-gw impossible); nodePort 30000 answers only on node2,
// where its pod runs, node1 and node3 drop it and node4 rejects it; dns2 serves a different address for
// redis.db.svc.cluster.local than dns1; dns3 rejects DNS. Healthy layout: all four nodes on one segment,
// the port open everywhere, dns1 and dns2 serving the same records, no dns3.

export type ClusterLayout = "broken" | "healthy";

export const NODE_PORT = 30000;
export const SERVICE_NAMES = ["kubernetes.default.svc.cluster.local", "redis.db.svc.cluster.local"];
export const EXTERNAL = "198.18.0.100";

export interface ClusterLab {
  lab: Lab;
  layout: ClusterLayout;
  /** the node namespace the check runs in */
  node: Host;
  nodes: string[];
  dnsServers: string[];
  nodePorts: number[];
  dnsNames: string[];
  external: string[];
}

const RECORDS: Record<string, Record<string, string>> = {
  dns1: { "kubernetes.default.svc.cluster.local": "198.18.1.1", "redis.db.svc.cluster.local": "198.18.1.20" },
  dns2: { "kubernetes.default.svc.cluster.local": "198.18.1.1", "redis.db.svc.cluster.local": "198.18.1.21" },
};

/** A TCP listener that stands for a pod behind a nodePort: accepts and closes. */
function listen(host: Host, port: number): void {
  host.spawn(process.execPath, [
    "-e",
    `require("node:net").createServer((s) => s.end()).listen(${port}, "0.0.0.0")`,
  ]);
}

function dnsmasq(host: Host, address: string, records: Record<string, string>): void {
  host.spawn("dnsmasq", [
    "--keep-in-foreground",
    "--no-resolv",
    "--no-hosts",
    "--conf-file=/dev/null",
    "--pid-file=",
    "--user=root",
    "--bind-interfaces",
    `--listen-address=${address}`,
    "--port=53",
    ...Object.entries(records).map(([name, ip]) => `--host-record=${name},${ip}`),
  ]);
}

async function waitForPort(host: Host, proto: "tcp" | "udp", port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await host.exec("ss", ["-Hln", proto === "tcp" ? "-t" : "-u", `sport = :${port}`], {
      reject: false,
    });
    if (r.stdout.trim() !== "") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on ${proto}/${port} in ${host.ns}`);
}

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
export async function buildClusterLab(layout: ClusterLayout, lab?: Lab): Promise<ClusterLab> {
  const l = lab ?? (await Lab.create({ name: "demo" }));
  try {
    const nodesSeg = await l.segment("nodes");
    const far = await l.segment("far");
    const ext = await l.segment("ext");
    await l.router("router", [
      [nodesSeg, "198.51.100.1/24"],
      [far, "203.0.113.1/24"],
      [ext, "198.18.0.1/24"],
    ]);
    const outside = await l.host("outside");
    await outside.connect(ext, { address: `${EXTERNAL}/24` });
    await outside.route(["default", "via", "198.18.0.1"]);

    const node = async (name: string, address: string, segment = nodesSeg, gateway = "198.51.100.1") => {
      const h = await l.host(name);
      await h.connect(segment, { address });
      await h.route(["default", "via", gateway]);
      return h;
    };
    const node1 = await node("node1", "198.51.100.11/24");
    const node2 = await node("node2", "198.51.100.12/24");
    const node3 = await node("node3", "198.51.100.13/24");
    const node4 =
      layout === "broken"
        ? await node("node4", "203.0.113.14/24", far, "203.0.113.1")
        : await node("node4", "198.51.100.14/24");

    const dns1 = await node("dns1", "198.51.100.53/24");
    dnsmasq(dns1, "198.51.100.53", RECORDS.dns1!);
    const dns2 = await node("dns2", "198.51.100.54/24");
    dnsmasq(dns2, "198.51.100.54", layout === "broken" ? RECORDS.dns2! : RECORDS.dns1!);
    const dnsServers = ["198.51.100.53", "198.51.100.54"];
    if (layout === "broken") {
      const dns3 = await node("dns3", "198.51.100.55/24");
      await dns3.nft(rejectDns);
      dnsServers.push("198.51.100.55");
    }

    if (layout === "broken") {
      listen(node2, NODE_PORT);
      await node1.nft(dropPort(NODE_PORT));
      await node3.nft(dropPort(NODE_PORT));
      await node4.nft(rejectPort(NODE_PORT));
      await waitForPort(node2, "tcp", NODE_PORT);
    } else {
      for (const h of [node1, node2, node3, node4]) listen(h, NODE_PORT);
      for (const h of [node1, node2, node3, node4]) await waitForPort(h, "tcp", NODE_PORT);
    }
    await waitForPort(dns1, "udp", 53);
    await waitForPort(dns2, "udp", 53);

    return {
      lab: l,
      layout,
      node: node1,
      nodes: [
        "198.51.100.11",
        "198.51.100.12",
        "198.51.100.13",
        layout === "broken" ? "203.0.113.14" : "198.51.100.14",
      ],
      dnsServers,
      nodePorts: [NODE_PORT],
      dnsNames: [...SERVICE_NAMES],
      external: [EXTERNAL],
    };
  } catch (err) {
    if (!lab) await l.destroy();
    throw err;
  }
}
