// `wireprobe routes` and `check --routes` in a lab of host-gw style routes (POD_CIDR via PEER), checked against
// the oracles in the same namespace: `ip -j route show table all` (and `ip -6 ...`) for the routes, arping and
// ndisc6 for the gateways' answers, `ip route get ... oif` for on-link, `ip -j neigh` for the neighbour entries.
// Addresses from the lab networks (198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15, 2001:db8::/32) and the
// peers' own link-local addresses.
//
//   segment nodes 198.51.100.0/24, 2001:db8:1::/64:
//     node1 .11 ::11 (runs the probe)   node2 .12 ::12   node3 .13 ::13 (also 203.0.113.15)   node4 .14
//     router .1 ::1   dup1 .77 and dup2 .77 (one address, two hosts: a conflict)   nobody at .95-.99, ::99
//   node1 eth1 203.0.113.1/24 to "gone" (203.0.113.2), whose end is down: eth1 has no carrier
//   node1 tun0 198.18.200.1/24 (a tun device: no ARP), vx0 a VXLAN link (198.18.210.0/32)
//
//   node1's routes: see ROUTES4 / ROUTES6 below; rule `from 198.18.50.0/24 lookup 100` (and its IPv6 twin),
//   table 200 used by no rule.

import t from "tap";
import { routesVerdict, routeText } from "../src/check/verdict-routes";
import { type Host, waitUntil } from "../src/lab";
import { routes } from "../src/probes/routes/routes";
import type { RouteRecord, SummaryRecord, VerdictRecord } from "../src/records";
import { AS_NOBODY, runCli } from "./helpers/cli";
import { withLab } from "./helpers/lab";
import { arpingOracle } from "./helpers/oracles";

/** ndisc6's answer from `host` out of `ifname`: the MACs it printed, none when nothing answered. */
async function ndisc6(host: Host, target: string, ifname: string): Promise<string[]> {
  const r = await host.exec("ndisc6", ["-n", "-m", "-r", "2", "-w", "500", target, ifname], {
    reject: false,
    timeoutMs: 30_000,
  });
  if (r.code !== 0 && !/Timed out|No response/i.test(r.stdout + r.stderr)) {
    throw new Error(`ndisc6 ${target} failed (${r.code}): ${r.stderr || r.stdout}`);
  }
  return [
    ...new Set(
      [...r.stdout.matchAll(/Target link-layer address: ([0-9A-Fa-f:]{17})/g)].map((m) =>
        m[1]!.toLowerCase(),
      ),
    ),
  ];
}

/** One route of `ip -j route show`: a gateway as `gateway` or `via`, or next hops. */
interface IpRoute {
  dst: string;
  gateway?: string;
  via?: { family: string; host: string };
  dev?: string;
  table?: string;
  flags?: string[];
  metric?: number;
  nexthops?: Array<{
    gateway?: string;
    via?: { host: string };
    dev?: string;
    weight?: number;
    flags?: string[];
  }>;
}

/** A gateway route as the oracle and the records both give it. */
interface Row {
  family: "ipv4" | "ipv6";
  table: string;
  destination: string;
  gateway: string;
  interface: string;
  flags: string[];
  weight: number | null;
}

const rowKey = (r: Row) => `${r.family} ${r.table} ${r.destination} ${r.gateway} ${r.interface} ${r.weight}`;

/** `ip -j route show table all` of one family, as rows: a row per next hop with a gateway, in the given tables. */
async function ipRoutes(host: Host, family: 4 | 6, tables: readonly string[]): Promise<Row[]> {
  const out = await host.exec("ip", [`-${family}`, "-j", "route", "show", "table", "all"]);
  const rows: Row[] = [];
  for (const r of JSON.parse(out.stdout) as IpRoute[]) {
    const table = r.table ?? "main";
    if (!tables.includes(table)) continue;
    const zero = family === 4 ? "0.0.0.0/0" : "::/0";
    const destination =
      r.dst === "default" ? zero : r.dst.includes("/") ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`;
    const base = { family: family === 4 ? ("ipv4" as const) : ("ipv6" as const), table, destination };
    if (r.nexthops) {
      for (const h of r.nexthops) {
        const gateway = h.gateway ?? h.via?.host;
        if (!gateway) continue;
        rows.push({ ...base, gateway, interface: h.dev ?? "", flags: h.flags ?? [], weight: h.weight ?? 1 });
      }
      continue;
    }
    const gateway = r.gateway ?? r.via?.host;
    if (!gateway) continue;
    rows.push({ ...base, gateway, interface: r.dev ?? "", flags: r.flags ?? [], weight: null });
  }
  return rows;
}

const recordRow = (r: RouteRecord): Row => ({
  family: r.family,
  table: r.tableName,
  destination: r.destination,
  gateway: r.gateway,
  interface: r.interface ?? "",
  flags: r.flags,
  weight: r.weight,
});

async function collect(
  netns: string,
  options: Parameters<typeof routes>[0] = {},
): Promise<{ records: RouteRecord[]; summary: SummaryRecord }> {
  const run = routes({ netns, timeoutMs: 500, retries: 1, ...options });
  const records: RouteRecord[] = [];
  for await (const r of run) records.push(r);
  return { records, summary: run.summary! };
}

const find = (records: readonly RouteRecord[], destination: string, gateway?: string) => {
  const r = records.find(
    (x) => x.destination === destination && (gateway === undefined || x.gateway === gateway),
  );
  if (!r) throw new Error(`no record for ${destination}${gateway ? ` via ${gateway}` : ""}`);
  return r;
};

t.test("routes in a host-gw lab", async (t) => {
  const lab = await withLab(t, { name: "routes", ipv6: true });
  const seg = await lab.segment("nodes");
  const host = async (name: string, addresses: string[]) => {
    const h = await lab.host(name);
    const i = await h.connect(seg, { address: addresses });
    return { host: h, mac: i.mac };
  };
  const router = await host("router", ["198.51.100.1/24", "2001:db8:1::1/64"]);
  const node1 = (await host("node1", ["198.51.100.11/24", "2001:db8:1::11/64"])).host;
  const node2 = await host("node2", ["198.51.100.12/24", "2001:db8:1::12/64"]);
  const node3 = await host("node3", ["198.51.100.13/24", "2001:db8:1::13/64", "203.0.113.15/24"]);
  const node4 = await host("node4", ["198.51.100.14/24"]);
  const dup1 = await host("dup1", ["198.51.100.77/24"]);
  const dup2 = await host("dup2", ["198.51.100.77/24"]);
  const gone = await lab.host("gone");
  await node1.link(
    gone,
    { ifname: "eth1", address: "203.0.113.1/24" },
    { ifname: "eth0", address: "203.0.113.2/24" },
  );
  // node3's link-local address: a link-local gateway as IPv6 routers and BGP unnumbered use them.
  // (The kernel adds it once the link has a carrier, and it must pass duplicate address detection; ip -j lists
  // the addresses a scope filter leaves out as empty objects.)
  let node3LinkLocal = "";
  await waitUntil("node3's link-local address", async () => {
    const ll = await node3.host.exec("ip", ["-6", "-j", "addr", "show", "dev", "eth0"]);
    type Info = { local?: string; scope?: string; tentative?: boolean };
    const infos = (JSON.parse(ll.stdout || "[]") as Array<{ addr_info: Info[] }>).flatMap((l) => l.addr_info);
    const info = infos.find((a) => a.scope === "link" && a.local?.startsWith("fe80:") && !a.tentative);
    node3LinkLocal = info?.local ?? "";
    return node3LinkLocal !== "";
  });

  // A route that outlived its prefix: added while node1 had 198.18.100.11/24, which then went away.
  await node1.ip(["addr", "add", "198.18.100.11/24", "dev", "eth0"]);
  await node1.route(["198.18.6.0/24", "via", "198.18.100.7"]);
  await node1.ip(["addr", "del", "198.18.100.11/24", "dev", "eth0"]);
  const v4: string[][] = [
    ["default", "via", "198.51.100.1"],
    ["198.18.2.0/24", "via", "198.51.100.12"], // node2's pod CIDR: ok
    ["198.18.3.0/24", "via", "198.51.100.13"], // node3's: ok
    ["198.18.4.0/24", "via", "198.51.100.99"], // a peer that left: silent
    ["198.18.5.0/24", "via", "203.0.113.5", "dev", "eth0", "onlink"], // onlink, silent
    ["198.18.15.0/24", "via", "203.0.113.15", "dev", "eth0", "onlink"], // onlink, node3 answers
    ["198.18.7.0/24", "via", "198.51.100.77"], // conflict
    ["198.18.10.0/24", "nexthop", "via", "198.51.100.12", "nexthop", "via", "198.51.100.98", "weight", "2"],
    ["198.18.11.0/24", "via", "inet6", "2001:db8:1::12", "dev", "eth0"], // an IPv4 route via an IPv6 next hop
    ["198.18.13.0/24", "via", "203.0.113.2", "dev", "eth1"], // eth1 has no carrier
    ["198.18.14.0/24", "via", "198.51.100.14"], // node4 answers, the kernel's permanent entry is stale
    ["198.18.16.0/24", "via", "198.51.100.95"], // silent, but the kernel never asks (permanent entry)
    ["198.18.8.0/24", "via", "198.51.100.12", "table", "100"],
    ["198.18.9.0/24", "via", "198.51.100.97", "table", "100"],
    ["198.18.12.0/24", "via", "198.51.100.96", "table", "200"], // no rule looks up table 200
  ];
  for (const r of v4) await node1.route(r);
  await node1.ip(["rule", "add", "from", "198.18.50.0/24", "lookup", "100"]);
  await node1.ip(["-6", "rule", "add", "from", "2001:db8:50::/64", "lookup", "100"]);
  const v6: string[][] = [
    ["::/0", "via", "2001:db8:1::1"],
    ["2001:db8:f2::/64", "via", "2001:db8:1::12"],
    ["2001:db8:f4::/64", "via", "2001:db8:1::99"], // silent
    ["2001:db8:f3::/64", "via", node3LinkLocal, "dev", "eth0"], // link-local gateway, answers
    ["2001:db8:f5::/64", "via", "fe80::dead", "dev", "eth0"], // link-local gateway, silent
    ["2001:db8:f8::/64", "via", "2001:db8:1::13", "table", "100"],
  ];
  for (const r of v6) await node1.ip(["-6", "route", "add", ...r]);
  await node1.ip([
    "neigh",
    "replace",
    "198.51.100.14",
    "lladdr",
    "02:00:00:00:00:14",
    "dev",
    "eth0",
    "nud",
    "permanent",
  ]);
  await node1.ip([
    "neigh",
    "replace",
    "198.51.100.95",
    "lladdr",
    "02:00:00:00:00:95",
    "dev",
    "eth0",
    "nud",
    "permanent",
  ]);
  // A tun device (no ARP) and a VXLAN link with a permanent neighbour, as flannel vxlan sets them up.
  await node1.exec("ip", ["tuntap", "add", "tun0", "mode", "tun"]);
  await node1.ip(["addr", "add", "198.18.200.1/24", "dev", "tun0"]);
  await node1.ip(["link", "set", "tun0", "up"]);
  await node1.route(["198.18.201.0/24", "via", "198.18.200.2", "dev", "tun0"]);
  await node1.ip([
    "link",
    "add",
    "vx0",
    "type",
    "vxlan",
    "id",
    "7",
    "local",
    "198.51.100.11",
    "dev",
    "eth0",
    "dstport",
    "8472",
    "nolearning",
  ]);
  await node1.ip(["addr", "add", "198.18.210.0/32", "dev", "vx0"]);
  await node1.ip(["link", "set", "vx0", "up"]);
  await node1.route(["198.18.211.0/24", "via", "198.18.211.0", "dev", "vx0", "onlink"]);
  await node1.ip([
    "neigh",
    "replace",
    "198.18.211.0",
    "lladdr",
    "02:00:00:00:02:11",
    "dev",
    "vx0",
    "nud",
    "permanent",
  ]);
  // A gateway that became one of node1's own addresses after the route was added.
  await node1.route(["198.18.17.0/24", "via", "198.51.100.22"]);
  await node1.addAddress("eth0", "198.51.100.22/32");
  await gone.ip(["link", "set", "eth0", "down"]);
  const ns = node1.ns;

  const { records, summary } = await collect(ns);

  t.test("every gateway route of the used tables, as ip route lists them", async (t) => {
    const oracle = [
      ...(await ipRoutes(node1, 4, ["main", "local", "default", "100"])),
      ...(await ipRoutes(node1, 6, ["main", "local", "default", "100"])),
    ];
    const got = records.map(recordRow);
    t.same(
      got.map(rowKey).sort(),
      oracle.map(rowKey).sort(),
      "the same routes, tables, gateways, devices, weights",
    );
    for (const o of oracle) {
      const r = got.find((x) => rowKey(x) === rowKey(o))!;
      t.same(r.flags, o.flags, `${rowKey(o)}: the flags ip prints`);
    }
    t.notOk(
      records.some((r) => r.table === 200),
      "table 200 (no rule) is not read by default",
    );
    t.ok(records.every((r) => (r.onlink ? r.flags.includes("onlink") : !r.flags.includes("onlink"))));
    t.equal(summary.targets, records.length);
    t.equal(summary.aborted, undefined);
  });

  t.test("states against arping, ndisc6, ip route get and ip neigh", async (t) => {
    const expect: Array<[string, string, RouteRecord["state"]]> = [
      ["0.0.0.0/0", "198.51.100.1", "ok"],
      ["198.18.2.0/24", "198.51.100.12", "ok"],
      ["198.18.3.0/24", "198.51.100.13", "ok"],
      ["198.18.4.0/24", "198.51.100.99", "no-reply"],
      ["198.18.5.0/24", "203.0.113.5", "no-reply"],
      ["198.18.15.0/24", "203.0.113.15", "ok"],
      ["198.18.6.0/24", "198.18.100.7", "not-on-link"],
      ["198.18.7.0/24", "198.51.100.77", "conflict"],
      ["198.18.10.0/24", "198.51.100.12", "ok"],
      ["198.18.10.0/24", "198.51.100.98", "no-reply"],
      ["198.18.11.0/24", "2001:db8:1::12", "ok"],
      ["198.18.13.0/24", "203.0.113.2", "no-reply"],
      ["198.18.14.0/24", "198.51.100.14", "ok"],
      ["198.18.16.0/24", "198.51.100.95", "no-reply"],
      ["198.18.8.0/24", "198.51.100.12", "ok"],
      ["198.18.9.0/24", "198.51.100.97", "no-reply"],
      ["198.18.201.0/24", "198.18.200.2", "not-probed"],
      ["198.18.17.0/24", "198.51.100.22", "no-reply"],
      ["198.18.211.0/24", "198.18.211.0", "no-reply"],
      ["::/0", "2001:db8:1::1", "ok"],
      ["2001:db8:f2::/64", "2001:db8:1::12", "ok"],
      ["2001:db8:f4::/64", "2001:db8:1::99", "no-reply"],
      ["2001:db8:f3::/64", node3LinkLocal, "ok"],
      ["2001:db8:f5::/64", "fe80::dead", "no-reply"],
      ["2001:db8:f8::/64", "2001:db8:1::13", "ok"],
    ];
    t.equal(records.length, expect.length, "one record per gateway route (and per next hop)");
    const macOf: Record<string, string[]> = {
      "198.51.100.1": [router.mac],
      "198.51.100.12": [node2.mac],
      "198.51.100.13": [node3.mac],
      "203.0.113.15": [node3.mac],
      "198.51.100.14": [node4.mac],
      "198.51.100.77": [dup1.mac, dup2.mac],
      "2001:db8:1::1": [router.mac],
      "2001:db8:1::12": [node2.mac],
      "2001:db8:1::13": [node3.mac],
      [node3LinkLocal]: [node3.mac],
    };
    for (const [destination, gateway, state] of expect) {
      const r = find(records, destination, gateway);
      t.equal(r.state, state, `${routeText(r)}: ${state} (${r.reason})`);
      t.same(
        [...r.macs].sort(),
        [...(macOf[gateway] ?? [])].sort(),
        `${routeText(r)}: the MACs of the hosts that have it`,
      );
      t.equal(r.probe, gateway.includes(":") ? "ndp" : "arp");
    }
    // Each distinct gateway of an interface once: the answered ones one request, the silent ones a retry.
    const distinct = new Map<string, RouteRecord>();
    for (const r of records) distinct.set(`${r.interface}/${r.onlink}/${r.gateway}`, r);
    t.equal(
      summary.packetsSent,
      [...distinct.values()].reduce((n, r) => n + r.sent, 0),
      "one probe per gateway, shared by its routes",
    );
    t.equal(find(records, "198.18.2.0/24").sent, 1);
    t.equal(find(records, "198.18.4.0/24").sent, 2);

    // arping / ndisc6 on the route's interface: the same answer, the same MACs. The oracles run side by side
    // (each waits out its own timeout for a silent gateway), after the probe: they fill the kernel's table.
    const asked = expect
      .map(([destination, gateway, state]) => ({ r: find(records, destination, gateway), gateway, state }))
      // not-probed and not-on-link: nothing to ask; eth1 has no carrier: arping cannot even send there
      .filter(({ r, state }) => state !== "not-probed" && state !== "not-on-link" && r.interface !== "eth1");
    const oracles = await Promise.all(
      asked.map(({ r, gateway }) =>
        gateway.includes(":")
          ? ndisc6(node1, gateway, r.interface!)
          : arpingOracle(node1, r.interface!, gateway, { count: 2, timeoutS: 2 }).then((a) => a.macs),
      ),
    );
    asked.forEach(({ r, state }, k) => {
      const macs = oracles[k]!;
      t.equal(
        macs.length > 0,
        state === "ok" || state === "conflict",
        `${routeText(r)}: the oracle ${macs.length > 0 ? "got an answer" : "got none"} too`,
      );
      t.same([...macs].sort(), [...r.macs].sort(), `${routeText(r)}: the MACs the oracle saw`);
    });

    // Not on-link: the kernel's lookup for the gateway out of eth0 does not match an eth0 prefix.
    const off = find(records, "198.18.6.0/24");
    const get = await node1.exec("ip", ["-j", "route", "get", "198.18.100.7", "oif", "eth0", "fibmatch"], {
      reject: false,
    });
    const matched = JSON.parse(get.stdout || "[]") as IpRoute[];
    t.equal(
      matched[0]?.dst,
      "default",
      "the kernel matches the default route for the gateway, not an eth0 prefix",
    );
    t.match(
      off.reason,
      /not in eth0's on-link prefixes: the kernel routes 198\.18\.100\.7 via 198\.51\.100\.1/,
    );

    t.match(find(records, "198.18.17.0/24"), { reason: "the gateway is this host's own address", sent: 0 });
    const eth1 = find(records, "198.18.13.0/24");
    t.same(eth1.flags, ["linkdown"]);
    t.match(eth1.reason, /eth1 has no carrier/);
    t.match(find(records, "198.18.201.0/24").reason, /tun0 has ARP off|tun0 has no ARP/);

    // Neighbour entries as ip neigh shows them.
    const neigh = JSON.parse((await node1.exec("ip", ["-j", "neigh", "show"])).stdout) as Array<{
      dst: string;
      dev: string;
      lladdr?: string;
      state: string[];
    }>;
    for (const r of records) {
      const n = neigh.find((x) => x.dst === r.gateway && x.dev === r.interface);
      if (!n) continue;
      // An entry the probe left alone: wireprobe never fills the kernel's table (the oracles above did, since).
      if (!n.state.includes("PERMANENT")) continue;
      t.same(r.neighbour, { mac: n.lladdr ?? null, state: "permanent" }, `${r.gateway}: the permanent entry`);
    }
    const stale = find(records, "198.18.14.0/24");
    t.match(stale, {
      state: "ok",
      staleNeighbour: true,
      neighbour: { mac: "02:00:00:00:00:14", state: "permanent" },
    });
    t.match(find(records, "198.18.16.0/24"), {
      state: "no-reply",
      staleNeighbour: false,
      neighbour: { state: "permanent" },
    });
    t.match(find(records, "198.18.211.0/24"), {
      state: "no-reply",
      neighbour: { mac: "02:00:00:00:02:11", state: "permanent" },
    });
  });

  t.test("the routes verdict", async (t) => {
    const v = routesVerdict(records);
    t.equal(v.ok, false);
    t.equal(v.complete, true);
    t.same(
      v.families?.map((f) => [f.family, f.ok]),
      [
        ["ipv4", false],
        ["ipv6", false],
      ],
    );
    t.match(v.detail, /198\.18\.4\.0\/24 via 198\.51\.100\.99 dev eth0/);
    t.match(v.detail, /198\.18\.9\.0\/24 via 198\.51\.100\.97 dev eth0 table 100/);
    t.match(v.detail, /not on-link/);
    t.match(v.detail, /Address conflict/);
    t.match(v.detail, /permanent neighbour entry/);
    t.notMatch(v.detail, /198\.18\.16\.0\/24 via/, "a gateway the kernel never asks for is not judged");
    t.match(v.fix, /`ip route del 198\.18\.4\.0\/24 via 198\.51\.100\.99 dev eth0`/);
    t.match(
      v.fix,
      /`ip route replace 198\.18\.10\.0\/24 nexthop via 198\.51\.100\.12 dev eth0`/,
      "a multipath route keeps its live next hop",
    );
    t.match(v.fix, /`ip neigh del 198\.51\.100\.14 dev eth0`/);
    t.ok(
      v.evidence.some(
        (e) => e.subject === "198.18.4.0/24 via 198.51.100.99 dev eth0" && /no-reply/.test(e.finding),
      ),
    );
    // The fix's commands do what they say (in this lab namespace): afterwards those routes are gone or healed.
    await node1.ip(["route", "del", "198.18.4.0/24", "via", "198.51.100.99", "dev", "eth0"]);
    const left = await ipRoutes(node1, 4, ["main"]);
    t.notOk(
      left.some((r) => r.destination === "198.18.4.0/24"),
      "ip route del took the stale route",
    );
  });

  t.test("the CLI: --json, the report, --table, bad input", async (t) => {
    const json = await runCli(ns, ["routes", "--json", "--timeout", "500"]);
    t.equal(json.code, 1, `exit 1: some gateway route is not ok ${json.stderr}`);
    const lines = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as RouteRecord | SummaryRecord);
    const recs = lines.filter((l): l is RouteRecord => l.type === "route");
    t.equal(recs.length, records.length - 1, "the same routes (less the one deleted above)");
    t.match(lines.at(-1), { type: "summary", command: "routes", targets: recs.length });
    t.match(find(recs, "198.18.2.0/24"), {
      type: "route",
      family: "ipv4",
      table: 254,
      tableName: "main",
      gateway: "198.51.100.12",
      interface: "eth0",
      onlink: false,
      multipath: false,
      weight: null,
      metric: 0,
      proto: "boot",
      state: "ok",
      reason: null,
      macs: [node2.mac],
      probe: "arp",
      sent: 1,
    });

    const text = await runCli(ns, ["routes", "--timeout", "500"]);
    t.equal(text.code, 1);
    t.match(text.stdout, /TABLE\s+DESTINATION\s+GATEWAY\s+DEV\s+STATE\s+MAC\s+NOTE/);
    t.match(text.stdout, /100\s+198\.18\.9\.0\/24\s+198\.51\.100\.97\s+eth0\s+no-reply/);
    t.match(text.stdout, /^FAIL: /m);
    t.match(text.stdout, /^fix: .*ip route del/m);
    t.match(text.stdout, /routes: \d+ gateway route\(s\)/);

    const t200 = await runCli(ns, ["routes", "--json", "--table", "200", "--timeout", "300"]);
    const only = t200.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as RouteRecord)
      .filter((r) => r.type === "route");
    t.same(
      only.map((r) => [r.table, r.destination, r.state]),
      [[200, "198.18.12.0/24", "no-reply"]],
      "--table 200",
    );
    const main = await runCli(ns, ["routes", "--json", "--table", "main", "--timeout", "300"]);
    t.ok(
      main.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as RouteRecord)
        .filter((r) => r.type === "route")
        .every((r) => r.table === 254),
    );

    for (const [args, message] of [
      [["--table", "nosuch"], /unknown routing table "nosuch"/],
      [["--table", "4294967296"], /out of range/],
      [["--table"], /needs a value/],
      [["--timeout", "0"], /timeout/],
      [["198.51.100.1"], /no positional arguments/],
      [["--netns", "wpnosuch-0000-x"], /unknown network namespace/],
    ] as Array<[string[], RegExp]>) {
      const r = await runCli(ns, ["routes", ...args]);
      const want = args[0] === "--netns" ? 3 : 2;
      t.equal(r.code, want, `${args.join(" ")}: exit ${want}`);
      t.match(r.stderr, message);
      t.equal(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: one line`);
      t.equal(r.stdout, "");
    }
  });

  t.test("without privilege: one line, exit 3", async (t) => {
    const r = await runCli(ns, ["routes", "--timeout", "300"], { asUser: AS_NOBODY });
    t.equal(r.code, 3, r.stderr);
    t.match(r.stderr, /^wireprobe: .*needs root or CAP_NET_RAW/);
    t.equal(r.stderr.trim().split("\n").length, 1);
    t.equal(r.stdout, "");
  });

  t.test("check --routes", async (t) => {
    const r = await runCli(ns, ["check", "--routes", "--dns", "198.51.100.12", "--timeout", "500", "--json"]);
    t.equal(r.code, 1);
    const out = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string });
    const v = out.find(
      (x) => x.type === "verdict" && (x as VerdictRecord).check === "routes",
    ) as VerdictRecord;
    t.ok(v, "a routes verdict");
    t.match(v, { ok: false, complete: true });
    t.ok(
      out.some((x) => x.type === "route"),
      "the route records come first",
    );
    const plain = await runCli(ns, [
      "check",
      "--routes-table",
      "100",
      "--dns",
      "198.51.100.12",
      "--timeout",
      "500",
    ]);
    t.match(plain.stdout, /FAIL\s+routes\s+/);
    t.match(plain.stdout, /GATEWAY ROUTES: 3 route\(s\) via 3 gateway\(s\)/);
    t.match(plain.stdout, /198\.18\.9\.0\/24 via 198\.51\.100\.97 dev eth0 table 100\s+no-reply/);
    t.match(
      plain.stdout,
      /routes: .*`ip route del 198\.18\.9\.0\/24 via 198\.51\.100\.97 dev eth0 table 100`/,
    );
    const bad = await runCli(ns, ["check", "--routes-table", "nosuch", "--dns", "198.51.100.12"]);
    t.equal(bad.code, 2);
    t.equal(bad.stderr.trim().split("\n").length, 1);

    // Healthy: node2's routes all go via peers that answer.
    await node2.host.route(["198.18.1.0/24", "via", "198.51.100.11"]);
    await node2.host.route(["198.18.3.0/24", "via", "198.51.100.13"]);
    await node2.host.ip(["-6", "route", "add", "2001:db8:f1::/64", "via", "2001:db8:1::11"]);
    const healthy = await runCli(node2.host.ns, [
      "check",
      "--routes",
      "--dns",
      "198.51.100.12",
      "--timeout",
      "500",
      "--json",
    ]);
    const hv = healthy.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as VerdictRecord)
      .find((x) => x.type === "verdict" && x.check === "routes")!;
    t.match(hv, { ok: true, complete: true, fix: null });
    t.match(
      hv.detail,
      /All 3 gateway routes go via a gateway that is on-link and answers ARP\/NDP from one MAC/,
    );
  });

  t.test("interrupted: incomplete, never ok", async (t) => {
    const controller = new AbortController();
    const run = routes({ netns: ns, timeoutMs: 5000, retries: 0, signal: controller.signal });
    const got: RouteRecord[] = [];
    setTimeout(() => controller.abort(new Error("SIGINT")), 300);
    for await (const r of run) got.push(r);
    t.equal(run.summary?.aborted, true);
    const v = routesVerdict(got, { aborted: true });
    t.equal(v.ok, false);
    t.equal(v.complete, false);
    t.match(v.detail, /^IPv4: Interrupted: .* IPv6: Interrupted: /, "each family says so");
    t.notMatch(
      v.fix,
      /ip route del 198\.18\.9\.0/,
      "no command for a gateway that was silent only until the interruption",
    );
    t.ok(
      got.every(
        (r) =>
          r.state !== "no-reply" ||
          /before the interruption|no carrier|is down|own address/.test(r.reason ?? ""),
      ),
    );
  });
});
