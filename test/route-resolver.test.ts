// The cached route resolver must give the kernel's own answer for every address, whatever the routing
// tables hold: more specific routes inside a prefix, host routes, multipath, policy rules, blackholes.
// Oracle: `ip route get` for every address (iproute2, in batch mode) in the same namespace.

import t from "tap";
import { intToIpv4, ipv4ToInt } from "../src/addr/address";
import { createRouteResolver } from "../src/net/route-resolver";
import { withLab } from "./helpers/lab";

interface IpRouteGet {
  type?: string;
  dst: string;
  gateway?: string;
  dev: string;
  prefsrc?: string;
}

t.test("resolver equals ip route get for every address", async (t) => {
  const lab = await withLab(t, "route");
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const node = await lab.host("node");
  await node.connect(a, { ifname: "eth0", address: "198.51.100.10/24" });
  await node.connect(b, { ifname: "eth1", address: "203.0.113.10/24" });
  const routes: string[][] = [
    ["default", "via", "198.51.100.1"],
    ["198.18.0.0/16", "via", "203.0.113.1"],
    ["198.18.5.0/24", "via", "198.51.100.1"],
    ["198.18.6.0/25", "dev", "eth1"],
    ["198.18.7.7/32", "dev", "eth0"],
    ["blackhole", "198.18.10.0/24"],
    ["unreachable", "198.18.11.0/24"],
    ["prohibit", "198.18.12.0/26"],
    ["198.18.13.0/24", "nexthop", "via", "198.51.100.1", "nexthop", "via", "203.0.113.1"],
    ["198.18.9.0/24", "via", "198.51.100.1", "table", "100"],
  ];
  for (const r of routes) await node.route(r);
  await node.ip(["rule", "add", "to", "198.18.9.128/25", "table", "100", "priority", "100"]);

  const first = ipv4ToInt("198.18.0.0");
  const addresses = Array.from({ length: 16 * 256 }, (_, i) => first + i);
  addresses.push(
    ipv4ToInt("198.51.100.10"),
    ipv4ToInt("198.51.100.255"),
    ipv4ToInt("203.0.113.77"),
    ipv4ToInt("127.0.0.1"),
  );

  const batch = addresses.map((a) => `route get ${intToIpv4(a)}`).join("\n");
  const r = await node.exec("ip", ["-j", "-force", "-batch", "-"], { input: `${batch}\n`, reject: false });
  const oracle = new Map<string, IpRouteGet>();
  for (const line of r.stdout.split("\n").filter((l) => l.startsWith("["))) {
    const [entry] = JSON.parse(line) as IpRouteGet[];
    if (entry) oracle.set(entry.dst, entry);
  }

  const resolver = createRouteResolver(node.nsPath);
  t.teardown(() => resolver.close());
  let mismatches = 0;
  for (const address of addresses) {
    const text = intToIpv4(address);
    const d = resolver.resolve(address);
    const o = oracle.get(text);
    let same: boolean;
    if (!o)
      same =
        d.kind === "unreachable" ||
        (d.kind === "special" && ["blackhole", "unreachable", "prohibit"].includes(d.routeType));
    else if (o.type === "local") same = d.kind === "local";
    else if (o.type === "broadcast") same = d.kind === "special" && d.routeType === "broadcast";
    else if (o.type === "blackhole" || o.type === "unreachable" || o.type === "prohibit")
      same = d.kind === "special" && d.routeType === o.type;
    else if (o.gateway)
      same =
        d.kind === "via-gateway" &&
        d.gateway === o.gateway &&
        d.ifname === o.dev &&
        d.source === (o.prefsrc ?? null);
    else same = d.kind === "on-link" && d.ifname === o.dev && d.source === (o.prefsrc ?? null);
    if (!same && mismatches++ < 10)
      t.fail(`${text}: resolver ${JSON.stringify(d)}, ip route get ${JSON.stringify(o ?? "no route")}`);
  }
  t.equal(mismatches, 0, `all ${addresses.length} addresses agree with ip route get`);
  // Special routes, multipath and the rule-carved /25 are asked one by one (about 1,000 addresses here);
  // everything else comes from the cache.
  t.ok(resolver.lookups < 2 * 1200, `answered the rest from the cache (${resolver.lookups} kernel lookups)`);
  const fresh = createRouteResolver(node.nsPath);
  t.teardown(() => fresh.close());
  for (let i = 0; i < 5 * 256; i++) fresh.resolve(first + i);
  t.equal(fresh.lookups, 2, "a plain stretch of one prefix costs one lookup (and its fib match)");
});

t.test("pinned to an interface", async (t) => {
  const lab = await withLab(t, "routepin");
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const node = await lab.host("node");
  await node.connect(a, { ifname: "eth0", address: "198.51.100.10/24" });
  await node.connect(b, { ifname: "eth1", address: "203.0.113.10/24" });
  await node.route(["default", "via", "198.51.100.1"]);
  const probe = createRouteResolver(node.nsPath);
  const eth1 = probe.links.find((l) => l.name === "eth1")!;
  probe.close();
  const pinned = createRouteResolver(node.nsPath, { link: eth1 });
  t.teardown(() => pinned.close());
  t.match(pinned.resolve(ipv4ToInt("203.0.113.20")), {
    kind: "on-link",
    ifname: "eth1",
    source: "203.0.113.10",
  });
  t.match(pinned.resolve(ipv4ToInt("203.0.113.21")), { kind: "on-link", ifname: "eth1" });
  // Not reachable through eth1: the kernel would go out of eth0 instead, which a pinned prober must not.
  t.match(pinned.resolve(ipv4ToInt("198.51.100.20")), {
    kind: "other-link",
    ifname: "eth1",
    route: { kind: "on-link", ifname: "eth0" },
  });
  t.match(pinned.resolve(ipv4ToInt("198.18.0.1")), {
    kind: "other-link",
    ifname: "eth1",
    route: { kind: "via-gateway", gateway: "198.51.100.1", ifname: "eth0" },
  });
});
