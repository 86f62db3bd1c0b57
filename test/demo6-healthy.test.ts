// `wireprobe demo --dual-stack --healthy`: the well-planned dual-stack cluster passes every verdict on both
// families (mtu, routes and the A/AAAA race too), in the NDJSON records; nothing is left behind.

import t from "tap";
import type { DnsRaceRecord } from "../src/records";
import { cli, demoLeftovers, parse, verdict } from "./helpers/check6";

t.test("demo --dual-stack --healthy: every verdict ok on both families", async (t) => {
  const healthy = await cli(["demo", "--dual-stack", "--healthy", "--json"], 300_000);
  t.equal(healthy.code, 0, healthy.stderr.trim());
  const records = parse(healthy.stdout);
  for (const check of ["host-gw", "nodeport", "dns", "mtu", "routes"]) {
    const v = verdict(records, check);
    t.equal(v.ok, true, `${check} ok`);
    t.same(
      v.families?.map((f) => [f.family, f.ok]),
      [
        ["ipv4", true],
        ["ipv6", true],
      ],
      `${check}: ok on both families`,
    );
  }
  const dns = verdict(records, "dns");
  t.match(
    dns.detail,
    /No A\/AAAA race: each of the 6 servers answered all 50 pairs/,
    "the race, at the VIPs too",
  );
  t.same(
    records
      .filter((r) => r.type === "dns-race")
      .map((r) => (r as DnsRaceRecord).server)
      .filter((s) => s.startsWith("198.18.53.") || s.startsWith("2001:db8:53:")),
    ["198.18.53.10", "2001:db8:53::10"],
  );
  t.match(verdict(records, "mtu").detail, /^No black hole on the paths to the 3 probed address\(es\)/);
  t.match(verdict(records, "routes").detail, /^All 8 gateway routes go via a gateway that is on-link/);
  t.same(await demoLeftovers(), [], "no demo namespace left");
});
