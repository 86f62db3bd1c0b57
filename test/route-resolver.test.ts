// The cached route resolver must give the kernel's own answer for every address, whatever the routing
// tables hold: more specific routes inside a prefix, host routes, multipath, policy rules, blackholes.
// Oracle: `ip route get` (`ip -6 route get`) for every address (iproute2, in batch mode) in the same namespace.

import t from "tap";
import { intToIpv4, ipv4ToInt } from "../src/addr/address";
import { formatIpv6, parseIpv6 } from "../src/addr/ipv6";
import { native } from "../src/native/binding";
import { listLinks } from "../src/net/links";
import { lookupRoute } from "../src/net/route";
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
  // The namespace by name, as every netns option takes it: the same routes, links and decisions.
  const byName = createRouteResolver(node.ns);
  t.teardown(() => byName.close());
  t.same(
    listLinks(node.ns).map((l) => [l.name, l.mac]),
    listLinks(node.nsPath).map((l) => [l.name, l.mac]),
    "listLinks: a name is the path",
  );
  t.same(
    lookupRoute(addresses[0]!, node.ns),
    lookupRoute(addresses[0]!, node.nsPath),
    "lookupRoute: a name is the path",
  );
  t.same(
    byName.resolve(addresses[0]!),
    resolver.resolve(addresses[0]!),
    "createRouteResolver: a name is the path",
  );
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

t.test("IPv6: resolver equals ip -6 route get for every address", async (t) => {
  const lab = await withLab(t, { name: "route6", ipv6: true });
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const node = await lab.host("node");
  await node.connect(a, { ifname: "eth0", address: "2001:db8:a::10/64" });
  // Two global addresses on eth1: the kernel picks the source per destination (RFC 6724's longest match),
  // so no answer through eth1 may be taken for a whole prefix.
  await node.connect(b, { ifname: "eth1", address: ["2001:db8:b::10/64", "2001:db8:ff::f10/116"] });
  const routes: string[][] = [
    ["default", "via", "2001:db8:a::1"],
    ["2001:db8:ff::/112", "via", "2001:db8:b::1"],
    ["2001:db8:ff::500/120", "via", "2001:db8:a::1"],
    ["2001:db8:ff::600/121", "dev", "eth0"],
    ["2001:db8:ff::707/128", "dev", "eth0"],
    ["blackhole", "2001:db8:ff::a00/120"],
    ["unreachable", "2001:db8:ff::b00/120"],
    ["prohibit", "2001:db8:ff::c00/122"],
    ["2001:db8:ff::d00/120", "nexthop", "via", "2001:db8:a::1", "nexthop", "via", "2001:db8:a::2"],
    ["2001:db8:ff::900/120", "via", "2001:db8:a::1", "table", "100"],
    ["2001:db8:fe::/112", "via", "2001:db8:a::3"],
  ];
  for (const r of routes) await node.ip(["-6", "route", "add", ...r]);
  await node.ip(["-6", "rule", "add", "to", "2001:db8:ff::980/121", "table", "100", "priority", "100"]);

  const text = (prefix: string, i: number) => {
    const bytes = parseIpv6(prefix).bytes;
    bytes[14] = i >> 8;
    bytes[15] = i & 0xff;
    return formatIpv6(bytes);
  };
  const addresses = [
    ...Array.from({ length: 16 * 256 }, (_, i) => text("2001:db8:ff::", i)),
    ...Array.from({ length: 1024 }, (_, i) => text("2001:db8:fe::", i)),
    "2001:db8:a::10",
    "2001:db8:a::77",
    "2001:db8:b::77",
    "2001:db8:c::1",
    "::1",
  ];
  const batch = addresses.map((x) => `route get ${x}`).join("\n");
  const r = await node.exec("ip", ["-6", "-j", "-force", "-batch", "-"], {
    input: `${batch}\n`,
    reject: false,
  });
  const oracle = new Map<string, IpRouteGet>();
  for (const line of r.stdout.split("\n").filter((l) => l.startsWith("["))) {
    const [entry] = JSON.parse(line) as IpRouteGet[];
    if (entry) oracle.set(entry.dst, entry);
  }
  t.ok(oracle.size > 4000, `ip -6 route get answered (${oracle.size})`);

  // The IPv6 dumps the cache is built from, against iproute2's.
  const nl = new native.Netlink(node.nsPath);
  t.teardown(() => nl.close());
  const shown = JSON.parse(
    (await node.exec("ip", ["-6", "-j", "route", "show", "table", "all"])).stdout,
  ) as Array<{ dst: string; table?: string; type?: string }>;
  const key = (dst: string, length: number) =>
    dst === "::" && length === 0 ? "default" : `${dst}/${length}`;
  const dumped = nl.listRoutes(6).map((r) => key(r.dst, r.dstLength));
  const expected = shown.map((r) => (r.dst.includes("/") || r.dst === "default" ? r.dst : `${r.dst}/128`));
  t.same(
    [...dumped].sort(),
    [...expected].sort(),
    "listRoutes(6): every route ip -6 route show table all lists",
  );
  const gw = nl.listRoutes(6).find((r) => r.dst === "2001:db8:fe::" && r.dstLength === 112);
  t.equal(gw?.gateway, "2001:db8:a::3");
  t.same(
    gw && [...(gw.dstIp as { bytes: Uint8Array }).bytes],
    [...parseIpv6("2001:db8:fe::").bytes],
    "dstIp bytes",
  );
  t.same(
    (await nl.listRoutesAsync(6)).map((r) => r.dst),
    nl.listRoutes(6).map((r) => r.dst),
    "the asynchronous dump: the same",
  );
  const rules = nl.listRules(6);
  t.ok(
    rules.some(
      (r) => r.priority === 100 && r.table === 100 && r.dst === "2001:db8:ff::980" && r.dstLength === 121,
    ),
    "listRules(6): the rule",
  );
  t.equal(rules.length, JSON.parse((await node.exec("ip", ["-6", "-j", "rule", "show"])).stdout).length);
  t.throws(() => nl.listRoutes(5 as 4), { name: "TypeError" }, "a family other than 4 or 6");

  const resolver = createRouteResolver(node.nsPath);
  t.teardown(() => resolver.close());
  let mismatches = 0;
  for (const x of addresses) {
    const d = resolver.resolve6(parseIpv6(x).bytes);
    const o = oracle.get(x);
    let same: boolean;
    if (!o || ["blackhole", "unreachable", "prohibit"].includes(o.type ?? ""))
      same =
        d.kind === "unreachable" ||
        (d.kind === "special" && ["blackhole", "unreachable", "prohibit"].includes(d.routeType));
    else if (o.type === "local") same = d.kind === "local";
    else if (o.gateway)
      same =
        d.kind === "via-gateway" &&
        d.gateway === o.gateway &&
        d.ifname === o.dev &&
        d.source === (o.prefsrc ?? null);
    else same = d.kind === "on-link" && d.ifname === o.dev && d.source === (o.prefsrc ?? null);
    if (!same && mismatches++ < 10)
      t.fail(`${x}: resolver ${JSON.stringify(d)}, ip -6 route get ${JSON.stringify(o ?? "no route")}`);
  }
  t.equal(mismatches, 0, `all ${addresses.length} addresses agree with ip -6 route get`);
  // eth0's stretches come from the cache; eth1's /112 (two sources), the special routes and multipath not.
  t.ok(resolver.lookups < 4096 + 200, `eth0's prefixes from the cache (${resolver.lookups} kernel lookups)`);
  const fresh = createRouteResolver(node.nsPath);
  t.teardown(() => fresh.close());
  for (let i = 0; i < 1024; i++) fresh.resolve6(parseIpv6(text("2001:db8:fe::", i)).bytes);
  t.equal(fresh.lookups, 2, "a /112 behind one gateway costs one lookup (and its fib match)");
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
