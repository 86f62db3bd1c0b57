// The routes verdict from hand-made route records (every state, the fixes' commands, families, interruption),
// the routing table names and the packed route dump's next hops. No lab: pure functions.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { routesVerdict, routeText } from "../../src/check/verdict-routes";
import { UsageError } from "../../src/errors";
import { unpackRoutes } from "../../src/native/packed";
import { nextHopFlagNames } from "../../src/net/gateway-routes";
import { RouteNames } from "../../src/net/rt-tables";
import type { RouteRecord } from "../../src/records";

const MAC = "02:00:00:00:00:12";

function route(
  destination: string,
  gateway: string,
  state: RouteRecord["state"],
  extra: Partial<RouteRecord> = {},
): RouteRecord {
  const v6 = destination.includes(":");
  return {
    type: "route",
    family: v6 ? "ipv6" : "ipv4",
    table: 254,
    tableName: "main",
    destination,
    gateway,
    interface: "eth0",
    onlink: false,
    flags: [],
    multipath: false,
    weight: null,
    metric: v6 ? 1024 : 0,
    proto: "boot",
    state,
    reason:
      state === "ok"
        ? null
        : state === "no-reply"
          ? `no ${gateway.includes(":") ? "NDP" : "ARP"} reply on eth0`
          : "",
    macs: state === "ok" ? [MAC] : state === "conflict" ? [MAC, "02:00:00:00:00:99"] : [],
    rttMs: state === "ok" ? 0.05 : null,
    probe: gateway.includes(":") ? "ndp" : "arp",
    sent: state === "ok" ? 1 : 2,
    neighbour: null,
    staleNeighbour: false,
    ...extra,
  };
}

t.test("all well, or nothing to check", async (t) => {
  const v = routesVerdict([
    route("198.18.2.0/24", "198.51.100.12", "ok"),
    route("198.18.3.0/24", "198.51.100.12", "ok"),
    route("0.0.0.0/0", "198.51.100.1", "ok"),
  ]);
  t.match(v, { type: "verdict", check: "routes", ok: true, complete: true, fix: null, notProbed: [] });
  t.match(
    v.detail,
    /All 3 gateway routes go via a gateway that is on-link and answers ARP from one MAC \(2 gateways\)/,
  );
  t.same(
    v.evidence.map((e) => e.subject),
    ["198.51.100.12 dev eth0", "198.51.100.1 dev eth0"],
    "one line per gateway",
  );
  t.match(v.evidence[0]!.finding, /gateway of 2 routes: 198\.18\.2\.0\/24 and 198\.18\.3\.0\/24/);
  t.same(v.families, [{ family: "ipv4", ok: true, complete: true, detail: v.detail }]);
  const none = routesVerdict([]);
  t.match(none, { ok: true, complete: true, families: [] });
  t.match(none.detail, /No route .* has a gateway/);
});

t.test("a silent gateway: the route and the command that deletes it", async (t) => {
  const v = routesVerdict([
    route("198.18.2.0/24", "198.51.100.12", "ok"),
    route("198.18.4.0/24", "198.51.100.99", "no-reply"),
  ]);
  t.match(v, { ok: false, complete: true });
  t.match(
    v.detail,
    /^1 route goes via a gateway that does not answer ARP: 198\.18\.4\.0\/24 via 198\.51\.100\.99 dev eth0\. Traffic to that destination is dropped/,
  );
  t.match(v.fix, /`ip route del 198\.18\.4\.0\/24 via 198\.51\.100\.99 dev eth0`/);
  t.match(v.evidence, [
    {
      subject: "198.18.4.0/24 via 198.51.100.99 dev eth0",
      finding: /^no-reply: no ARP reply on eth0/,
      family: "ipv4",
    },
  ]);

  // The command names the table, a metric that is not the default, a default route, IPv6, via inet6.
  const cmds = routesVerdict([
    route("198.18.9.0/24", "198.51.100.97", "no-reply", { table: 100, tableName: "100", metric: 50 }),
    route("0.0.0.0/0", "198.51.100.1", "no-reply"),
    route("2001:db8:f4::/64", "2001:db8:1::99", "no-reply"),
    route("198.18.11.0/24", "2001:db8:1::12", "no-reply", { table: 7, tableName: "pods" }),
  ]);
  for (const c of [
    "ip route del 198.18.9.0/24 via 198.51.100.97 dev eth0 table 100 metric 50",
    "ip route del default via 198.51.100.1 dev eth0",
    "ip -6 route del 2001:db8:f4::/64 via 2001:db8:1::99 dev eth0",
    "ip route del 198.18.11.0/24 via inet6 2001:db8:1::12 dev eth0 table pods",
  ])
    t.ok(cmds.fix?.includes(`\`${c}\``), c);
  t.equal(
    routeText(route("198.18.11.0/24", "2001:db8:1::12", "ok")),
    "198.18.11.0/24 via inet6 2001:db8:1::12 dev eth0",
  );
  t.equal(
    routeText(route("198.18.5.0/24", "203.0.113.5", "ok", { onlink: true, table: 100, tableName: "100" })),
    "198.18.5.0/24 via 203.0.113.5 dev eth0 table 100 onlink",
  );
  // Over both families: the detail per family, one fix with both commands.
  t.same(
    cmds.families?.map((f) => [f.family, f.ok]),
    [
      ["ipv4", false],
      ["ipv6", false],
    ],
  );
  t.match(cmds.detail, /^IPv4: 3 routes go via .* IPv6: 1 route goes via/);

  const many = routesVerdict(
    Array.from({ length: 8 }, (_, i) => route(`198.18.${i}.0/24`, `198.51.100.${90 + i}`, "no-reply")),
  );
  t.match(many.fix, /; and 3 more\./, "five commands, then how many more");
  t.match(many.detail, /and 4 more/);
});

t.test("multipath: the silent next hop goes, the others stay", async (t) => {
  const mp = (gateway: string, state: RouteRecord["state"], weight: number) =>
    route("198.18.10.0/24", gateway, state, { multipath: true, weight });
  const one = routesVerdict([
    mp("198.51.100.12", "ok", 1),
    mp("198.51.100.98", "no-reply", 2),
    mp("198.51.100.13", "ok", 3),
  ]);
  t.match(one.detail, /flows hashed to the silent next hop/);
  t.match(
    one.fix,
    /`ip route replace 198\.18\.10\.0\/24 nexthop via 198\.51\.100\.12 dev eth0 nexthop via 198\.51\.100\.13 dev eth0 weight 3`/,
  );
  const all = routesVerdict([mp("198.51.100.97", "no-reply", 1), mp("198.51.100.98", "no-reply", 1)]);
  t.match(all.fix, /`ip route del 198\.18\.10\.0\/24`/, "no next hop left: the route goes");
});

t.test("not on-link, conflict, stale neighbour entries", async (t) => {
  const off = routesVerdict([
    route("198.18.6.0/24", "198.18.100.7", "not-on-link", {
      reason: "not in eth0's on-link prefixes: the kernel routes 198.18.100.7 via 198.51.100.1",
    }),
  ]);
  t.match(off, { ok: false, complete: true });
  t.match(
    off.detail,
    /not on-link on the route's interface: 198\.18\.6\.0\/24 via 198\.18\.100\.7 dev eth0 \(not in eth0's on-link prefixes/,
  );
  t.match(off.fix, /`ip route del 198\.18\.6\.0\/24 via 198\.18\.100\.7 dev eth0`.*`onlink`/);

  const dup = routesVerdict([route("198.18.7.0/24", "198.51.100.77", "conflict")]);
  t.match(dup, { ok: false, complete: true });
  t.match(
    dup.detail,
    /Address conflict on the gateway of 198\.18\.7\.0\/24 via 198\.51\.100\.77 dev eth0 \(02:00:00:00:00:12, 02:00:00:00:00:99\)/,
  );
  t.match(dup.fix, /claims 198\.51\.100\.77 .*arping -D/);
  t.notMatch(dup.fix, /ip route del/, "a conflict is not the route's fault");

  const permanent = routesVerdict([
    route("198.18.14.0/24", "198.51.100.14", "ok", {
      neighbour: { mac: "02:00:00:00:00:14", state: "permanent" },
      staleNeighbour: true,
    }),
  ]);
  t.match(permanent, { ok: false, complete: true });
  t.match(
    permanent.detail,
    /permanent neighbour entry .* 198\.51\.100\.14 \(02:00:00:00:00:14; answers from 02:00:00:00:00:12\)/,
  );
  t.match(permanent.fix, /`ip neigh del 198\.51\.100\.14 dev eth0`/);

  const dynamic = routesVerdict([
    route("198.18.14.0/24", "198.51.100.14", "ok", {
      neighbour: { mac: "02:00:00:00:00:14", state: "stale" },
      staleNeighbour: true,
    }),
  ]);
  t.equal(dynamic.ok, true, "a dynamic entry is learned again: evidence only");
  t.match(dynamic.evidence, [
    { subject: "198.51.100.14 dev eth0", finding: /learns it again within seconds/ },
  ]);
});

t.test("what is not judged: tunnels, gateways the kernel never asks for", async (t) => {
  const v = routesVerdict([
    route("198.18.2.0/24", "198.51.100.12", "ok"),
    route("198.18.201.0/24", "198.18.200.2", "not-probed", {
      interface: "tun0",
      reason: "tun0 has no ARP/NDP (not an Ethernet link)",
      sent: 0,
    }),
    route("198.18.211.0/24", "198.18.211.0", "no-reply", {
      interface: "flannel.1",
      onlink: true,
      neighbour: { mac: "02:00:00:00:02:11", state: "permanent" },
    }),
  ]);
  t.match(v, { ok: true, complete: true, fix: null });
  t.match(v.detail, /1 route over links without ARP\/NDP not probed \(tun0\)/);
  t.match(v.detail, /the kernel never asks for .*flannel\.1/);
  t.match(v.evidence, [
    { subject: "198.18.201.0/24 via 198.18.200.2 dev tun0", finding: /^not-probed: tun0/ },
  ]);
});

t.test("interrupted: incomplete, never ok, no command for what may still have answered", async (t) => {
  const recs = [
    route("198.18.2.0/24", "198.51.100.12", "ok"),
    route("198.18.4.0/24", "198.51.100.99", "no-reply", {
      reason: "no ARP reply on eth0 before the interruption",
    }),
    route("198.18.5.0/24", "198.51.100.98", "not-probed", {
      reason: "interrupted before its gateway was asked",
      sent: 0,
    }),
  ];
  const v = routesVerdict(recs, { aborted: true });
  t.match(v, { ok: false, complete: false, notProbed: ["198.18.5.0/24 via 198.51.100.98 dev eth0"] });
  t.match(
    v.detail,
    /^Interrupted: 2 of 3 gateway route\(s\) probed, not probed: 198\.18\.5\.0\/24 via 198\.51\.100\.98 dev eth0\. Not final\. So far: 1 route got no ARP reply from its gateway before the interruption/,
  );
  t.match(v.fix, /^Run the check again and let it finish/);
  t.notMatch(v.fix, /ip route del/);
  const waitCut = routesVerdict([route("198.18.2.0/24", "198.51.100.12", "ok")], { aborted: true });
  t.match(waitCut, { ok: false, complete: false, notProbed: [] });
  t.match(waitCut.detail, /the wait for their answers was cut short/);
  // A final finding stays final: a conflict seen before the interruption gets its fix.
  const dup = routesVerdict([route("198.18.7.0/24", "198.51.100.77", "conflict")], { aborted: true });
  t.match(dup, { ok: false, complete: false });
  t.match(dup.fix, /arping -D/);
});

t.test("routing table and protocol names", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wp-rt-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "rt_tables"),
    "# comment\n255\tlocal\n254 main\n100\tpods # host-gw\n0x65 vpn\nbad line\n",
  );
  writeFileSync(join(dir, "rt_protos"), "4 static\n250 mycni\n");
  const names = new RouteNames([dir]);
  t.equal(names.parseTable("main"), 254);
  t.equal(names.parseTable("local"), 255);
  t.equal(names.parseTable("default"), 253, "the kernel's three, whatever the files say");
  t.equal(names.parseTable("pods"), 100);
  t.equal(names.parseTable("vpn"), 101, "a hex number in rt_tables");
  t.equal(names.parseTable("100"), 100);
  t.equal(names.parseTable("0x64"), 100);
  t.equal(names.parseTable("all"), "all");
  t.equal(names.parseTable("0"), "all", "table 0 is every table, as for ip route show table 0");
  t.equal(names.tableName(100), "pods");
  t.equal(names.tableName(254), "main");
  t.equal(names.tableName(7), "7");
  t.equal(names.protocolName(250), "mycni");
  t.equal(names.protocolName(3), "boot", "the built-in names without a file");
  t.equal(names.protocolName(77), "77");
  for (const bad of ["nosuch", "4294967296", "-1", "", "main2", "99999999999999999999"])
    t.throws(() => names.parseTable(bad), UsageError, `"${bad}"`);
  t.equal(new RouteNames(["/nonexistent"]).tableName(254), "main", "no files: the built-ins");
});

t.test("the packed route dump: flags, nexthop object, multipath next hops", async (t) => {
  const numbers = new Float64Array([
    // table, protocol, scope, dstLength, ifindex, priority, multipath, dst, flags, nhid
    254, 3, 0, 24, 3, 0, 1, 0xc6120a00, 0, 0, 254, 3, 0, 24, 3, 0, 0, 0xc6120500, 4, 0, 100, 3, 0, 24, 0, 0,
    0, 0xc6120600, 0, 17,
  ]);
  const strings = [
    "unicast\n198.18.10.0\n198.51.100.12\n\n198.51.100.12,3,0,1 198.51.100.98,3,16,3 ,4,0,1\n",
    "unicast\n198.18.5.0\n203.0.113.5\n\n\n",
    "unicast\n198.18.6.0\n\n\n\n",
  ].join("");
  const [mp, onlink, nh] = unpackRoutes({ family: 4, count: 3, numbers, strings });
  t.match(mp, { multipath: true, gateway: "198.51.100.12", flags: 0, nhid: 0 });
  t.same(mp!.nexthops, [
    { gateway: "198.51.100.12", ifindex: 3, flags: 0, weight: 1 },
    { gateway: "198.51.100.98", ifindex: 3, flags: 16, weight: 3 },
    { gateway: null, ifindex: 4, flags: 0, weight: 1 },
  ]);
  t.match(onlink, { multipath: false, gateway: "203.0.113.5", flags: 4, nexthops: [] });
  t.match(nh, { table: 100, gateway: null, nhid: 17 });
  t.same(nextHopFlagNames(4 | 16), ["onlink", "linkdown"]);
  t.same(nextHopFlagNames(0), []);
});
