import t from "tap";
import { formatIpv6, parseIpv6 } from "../../src/addr/ipv6";
import { resolveTargets } from "../../src/addr/resolve";
import { parseIpv4Strict, TargetSet } from "../../src/addr/target-set";
import { check } from "../../src/check/check";
import { UsageError } from "../../src/errors";
import { arp } from "../../src/probes/arp/arp";
import { scan } from "../../src/probes/scan/scan";

const ip = (s: string) => parseIpv4Strict(s);
const str = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
const all = (set: TargetSet) => [...set].map(str);

t.test("single addresses, CIDR and ranges", async (t) => {
  t.same(all(TargetSet.parse(["198.51.100.7"])), ["198.51.100.7"]);
  t.equal(TargetSet.parse(["198.51.100.0/24"]).size, 256);
  t.equal(TargetSet.parse(["198.18.0.0/15"]).size, 131072);
  t.same(all(TargetSet.parse(["198.51.100.9/30"])), [
    "198.51.100.8",
    "198.51.100.9",
    "198.51.100.10",
    "198.51.100.11",
  ]);
  t.same(all(TargetSet.parse(["198.51.100.10-12"])), ["198.51.100.10", "198.51.100.11", "198.51.100.12"]);
  t.same(all(TargetSet.parse(["198.51.100-101.1,3"])), [
    "198.51.100.1",
    "198.51.100.3",
    "198.51.101.1",
    "198.51.101.3",
  ]);
  t.equal(TargetSet.parse(["203.0.113.*"]).size, 256);
  t.equal(TargetSet.parse(["203.0.113.-9"]).size, 10);
  t.equal(TargetSet.parse(["203.0.113.250-"]).size, 6);
  t.equal(TargetSet.parse(["0.0.0.0/0"]).size, 2 ** 32);
});

t.test("duplicates and overlaps are merged, order is ascending", async (t) => {
  const set = TargetSet.parse(["198.51.100.5", "198.51.100.0/29", "198.51.100.3-12", "198.51.100.1"]);
  t.equal(set.size, 13);
  t.equal(str(set.at(0)), "198.51.100.0");
  t.equal(str(set.at(12)), "198.51.100.12");
  t.equal(set.indexOf(ip("198.51.100.12")), 12);
  t.equal(set.indexOf(ip("198.51.100.13")), -1);
});

t.test("at and indexOf agree over gaps", async (t) => {
  const set = TargetSet.parse(["198.51.100.1-3", "203.0.113.10-11", "198.18.0.0/30"]);
  for (let i = 0; i < set.size; i++) t.equal(set.indexOf(set.at(i)), i);
  t.throws(() => set.at(set.size), RangeError);
});

t.test("exclude removes addresses", async (t) => {
  const set = TargetSet.parse(["198.51.100.0/28"]).exclude(
    TargetSet.parse(["198.51.100.0", "198.51.100.4-6", "198.51.100.15"]),
  );
  t.same(all(set), [
    "198.51.100.1",
    "198.51.100.2",
    "198.51.100.3",
    "198.51.100.7",
    "198.51.100.8",
    "198.51.100.9",
    "198.51.100.10",
    "198.51.100.11",
    "198.51.100.12",
    "198.51.100.13",
    "198.51.100.14",
  ]);
});

t.test("bad input is a UsageError naming the target", async (t) => {
  for (const bad of [
    "",
    "198.51.100",
    "198.51.100.256",
    "198.51.100.1/33",
    "198.51.100.01",
    "a.b.c.d",
    "198.51.100.20-10",
    "198.51.100.1/",
    "198..100.1",
    "example..com",
    "1.2.3.4.5",
    "198.51.100.1/-1",
  ]) {
    t.throws(() => TargetSet.parse([bad]), UsageError, bad);
  }
  t.throws(() => TargetSet.parse(["*.*.*.1,3"]), /too fragmented/);
});

// IPv6 targets: intervals after the IPv4 ones, bytes written into the caller's buffer.

const v6 = (set: TargetSet, i: number) => {
  const out = new Uint8Array(16);
  set.ipv6Into(i, out);
  return formatIpv6(out);
};
const all6 = (set: TargetSet) => {
  const out: string[] = [];
  for (let i = set.size4; i < set.size; i++) out.push(v6(set, i));
  return out;
};

t.test("IPv6 addresses, prefixes and last-group ranges", async (t) => {
  t.same(all6(TargetSet.parse(["2001:DB8:0:0::1"])), ["2001:db8::1"], "RFC 5952 out");
  const p = TargetSet.parse(["2001:db8::5/126"]);
  t.equal(p.size, 4);
  t.equal(p.size4, 0);
  t.same(all6(p), ["2001:db8::4", "2001:db8::5", "2001:db8::6", "2001:db8::7"]);
  t.equal(TargetSet.parse(["2001:db8::/120"]).size6, 256);
  t.equal(TargetSet.parse(["2001:db8::/112"]).size6, 65536, "the default cap admits a /112");
  t.same(all6(TargetSet.parse(["2001:db8::fe-101"])), [
    "2001:db8::fe",
    "2001:db8::ff",
    "2001:db8::100",
    "2001:db8::101",
  ]);
  t.same(all6(TargetSet.parse(["2001:db8::1:ffff:ffff/127"])), [
    "2001:db8::1:ffff:fffe",
    "2001:db8::1:ffff:ffff",
  ]);
  const carry = TargetSet.parse(["2001:db8:0:1:ffff:ffff:ffff:fffe-ffff", "2001:db8:0:2::/127"]);
  t.same(
    all6(carry),
    [
      "2001:db8:0:1:ffff:ffff:ffff:fffe",
      "2001:db8:0:1:ffff:ffff:ffff:ffff",
      "2001:db8:0:2::",
      "2001:db8:0:2::1",
    ],
    "adjacent intervals across a carry merge and step",
  );
});

t.test("mixed IPv4 and IPv6: IPv4 indices first, familyAt, indexOf for both", async (t) => {
  const set = TargetSet.parse([
    "2001:db8::10-11",
    "198.51.100.1",
    "2001:db8::1",
    "198.51.100.3",
    "2001:db8::11",
  ]);
  t.equal(set.size, 5);
  t.equal(set.size4, 2);
  t.equal(set.size6, 3);
  t.same(
    [0, 1, 2, 3, 4].map((i) => set.familyAt(i)),
    [4, 4, 6, 6, 6],
  );
  t.same(all(set), ["198.51.100.1", "198.51.100.3"], "the iterator is IPv4's");
  t.same(all6(set), ["2001:db8::1", "2001:db8::10", "2001:db8::11"], "sorted and merged");
  t.equal(set.at(1), ip("198.51.100.3"));
  t.throws(() => set.at(2), RangeError, "at() is for IPv4 indices");
  t.throws(() => set.ipv6Into(1, new Uint8Array(16)), RangeError, "ipv6Into() is for IPv6 indices");
  const buf = new Uint8Array(20);
  set.ipv6Into(4, buf, 4);
  t.equal(formatIpv6(buf, 4), "2001:db8::11", "written at the caller's offset");
  for (let i = set.size4; i < set.size; i++) {
    const b = new Uint8Array(16);
    set.ipv6Into(i, b);
    t.equal(set.indexOfIpv6(b), i);
  }
  t.equal(set.indexOfIpv6(parseIpv6("2001:db8::2").bytes), -1);
  t.equal(set.indexOfIpv6(parseIpv6("2001:db9::10").bytes), -1, "far past an interval's start");
  t.equal(set.indexOf(ip("198.51.100.3")), 1);
});

t.test("exclude and union work on IPv6 intervals too", async (t) => {
  const set = TargetSet.parse(["2001:db8::/124", "198.51.100.0/30"]).exclude(
    TargetSet.parse(["2001:db8::/126", "2001:db8::8-a", "2001:db8::/32", "198.51.100.1"], {
      ipv6Cap: null,
    }).exclude(TargetSet.parse(["2001:db8::c-f"])),
  );
  t.same(all6(set), ["2001:db8::c", "2001:db8::d", "2001:db8::e", "2001:db8::f"]);
  t.same(all(set), ["198.51.100.0", "198.51.100.2", "198.51.100.3"]);
  const u = TargetSet.parse(["2001:db8::1"]).union(TargetSet.parse(["2001:db8::2", "203.0.113.1"]));
  t.same(all6(u), ["2001:db8::1", "2001:db8::2"]);
  t.same(all(u), ["203.0.113.1"]);
});

t.test("IPv6 bad input: one-line UsageErrors", async (t) => {
  t.throws(
    () => TargetSet.parse(["2001:db8::/64"]),
    {
      name: "UsageError",
      message:
        'IPv6 target "2001:db8::/64" is too large: a /64 holds 18446744073709551616 addresses, more than the cap of 65536; raise the cap with --ipv6-cap N (ipv6Cap in the API)',
    },
    "a /64 is refused with the option that raises the cap",
  );
  t.throws(() => TargetSet.parse(["2001:db8::/111"]), /more than the cap of 65536/);
  t.equal(TargetSet.parse(["2001:db8::/104"], { ipv6Cap: 1 << 24 }).size6, 1 << 24, "a raised cap admits it");
  t.throws(() => TargetSet.parse(["2001:db8::/120"], { ipv6Cap: 255 }), /cap of 255/);
  t.throws(() => TargetSet.parse(["::ffff:198.51.100.1"]), {
    name: "UsageError",
    message: /IPv4-mapped IPv6 address .* give the IPv4 address \(198\.51\.100\.1\)/,
  });
  t.throws(() => TargetSet.parse(["::ffff:198.51.100.0/120"]), /IPv4-mapped/);
  t.throws(() => TargetSet.parse(["fe80::1%eth0"]), {
    name: "UsageError",
    message: /zone index \(%eth0\) is not supported/,
  });
  t.throws(() => TargetSet.parse(["fe80::%2/120"]), /zone index/);
  for (const bad of [
    "2001:db8::g",
    "2001:db8:::1",
    "2001:db8::/129",
    "2001:db8::/064",
    "2001:db8::10-1",
    "1:2:3:4:5:6:7:8:9",
  ]) {
    t.throws(() => TargetSet.parse([bad]), UsageError, bad);
  }
  for (const bad of ["2001:db8::/64", "::ffff:198.51.100.1", "fe80::1%eth0", "2001:db8::g"]) {
    let message = "";
    try {
      TargetSet.parse([bad]);
    } catch (err) {
      message = (err as Error).message;
    }
    t.notMatch(message, /\n/, `${bad}: one line`);
  }
});

t.test("names with AAAA answers, exclusions of both families", async (t) => {
  const lookup = async (name: string) => {
    const answers: Record<string, string> = {
      "v6only.example": "2001:db8::53",
      "v4.example": "198.51.100.9",
      "mapped.example": "::ffff:198.51.100.1",
    };
    const a = answers[name];
    if (a === undefined) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
    return a;
  };
  const r = await resolveTargets(
    ["v6only.example", "v4.example", "2001:db8::/126", "198.51.100.8/30", "nope.example", "mapped.example"],
    ["2001:db8::2", "198.51.100.10", "2001:db8:1::/48"],
    lookup,
  );
  t.same(all(r.set), ["198.51.100.8", "198.51.100.9", "198.51.100.11"]);
  t.same(all6(r.set), ["2001:db8::", "2001:db8::1", "2001:db8::3", "2001:db8::53"]);
  t.equal(r.names.get(ip("198.51.100.9")), "v4.example");
  t.equal(r.names6.get("2001:db8::53"), "v6only.example");
  t.same(
    r.unresolved.map((u) => u.name).sort(),
    ["mapped.example", "nope.example"],
    "an answer that cannot be probed is reported like a name that did not resolve",
  );
  const excludedName = await resolveTargets(["v6only.example", "2001:db8::1"], ["v6only.example"], lookup);
  t.same(all6(excludedName.set), ["2001:db8::1"]);
  t.equal(excludedName.names6.size, 0);
  await t.rejects(resolveTargets(["2001:db8::/64"], [], lookup), /--ipv6-cap/);
  t.equal((await resolveTargets(["2001:db8::/104"], [], lookup, { ipv6Cap: 1 << 24 })).set.size6, 1 << 24);
});

t.test(
  "arp and check take IPv6 targets within their caps, and refuse bigger blocks in one line",
  async (t) => {
    // arp takes IPv6 targets (NDP; test/arp-ndp.test.ts), within the IPv6 cap.
    t.doesNotThrow(() => arp(["198.51.100.1", "2001:db8::/120"]));
    t.throws(() => arp(["2001:db8::/64"]), { name: "UsageError" });
    // check takes IPv6 and dual-stack nodes (test/check6.test.ts), at most 4096 of them.
    t.doesNotThrow(() => check({ nodes: ["2001:db8::1"], external: ["2001:db8::2"] }));
    t.throws(() => check({ nodes: ["2001:db8::/112"] }), { name: "UsageError", message: /4096/ });
    t.throws(() => check({ external: ["2001:db8::/64"] }), { name: "UsageError", message: /4096/ });
  },
);

t.test("ipv6Cap: the library options of scan and arp, as ping's", async (t) => {
  /** the error a scan run meets before it probes anything (targets are resolved when it starts) */
  const scanError = async (targets: string[], options: Parameters<typeof scan>[1]) => {
    try {
      for await (const _ of scan(targets, { ports: "80", ...options })) {
        // nothing: every case here is refused before probing
      }
    } catch (err) {
      return err as Error;
    }
    return null;
  };
  const tooLarge =
    /is too large: a \/124 holds 16 addresses, more than the cap of 15; raise the cap with --ipv6-cap N \(ipv6Cap in the API\)$/;
  t.match(await scanError(["2001:db8::/124"], { ipv6Cap: 15 }), { name: "UsageError", message: tooLarge });
  t.match(
    await scanError(["2001:db8::/111"], {}),
    { name: "UsageError", message: /cap of 65536/ },
    "default 65,536",
  );
  t.throws(() => arp(["2001:db8::/124"], { ipv6Cap: 15 }), { name: "UsageError", message: tooLarge });
  t.doesNotThrow(() => arp(["2001:db8::/124"], { ipv6Cap: 16 }), "a cap of 16 admits a /124");
  t.throws(() => arp(["2001:db8::/111"]), /cap of 65536/);
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => arp(["2001:db8::1"], { ipv6Cap: bad }), { name: "UsageError" }, `arp ipv6Cap ${bad}`);
    t.match(
      await scanError(["2001:db8::1"], { ipv6Cap: bad }),
      { name: "UsageError" },
      `scan ipv6Cap ${bad}`,
    );
  }
  // Exclusions add no probes: a /64 is excluded whatever the cap (every target excluded: nothing is probed),
  // also from targets given as a TargetSet.
  t.equal(await scanError(["2001:db8::/124"], { ipv6Cap: 16, exclude: "2001:db8::/64" }), null);
  const set = TargetSet.parse(["2001:db8::/124"]);
  let err: unknown = null;
  try {
    for await (const _ of scan(set, { ports: "80", exclude: "2001:db8::/64" })) {
      // nothing: every target is excluded
    }
  } catch (e) {
    err = e;
  }
  t.equal(err, null, "a TargetSet minus a /64");
});
