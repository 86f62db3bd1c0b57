// `wireprobe demo --dual-stack --healthy`: the well-planned dual-stack cluster passes every verdict on both
// families, in the NDJSON records; nothing is left behind.

import { execFile } from "node:child_process";
import t from "tap";
import { cli, parse, verdict } from "./helpers/check6";

t.test("demo --dual-stack --healthy: every verdict ok on both families", async (t) => {
  const healthy = await cli(["demo", "--dual-stack", "--healthy", "--json"], 300_000);
  t.equal(healthy.code, 0, healthy.stderr.trim());
  const records = parse(healthy.stdout);
  for (const check of ["host-gw", "nodeport", "dns"]) {
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
  const left = await new Promise<string>((resolve) =>
    execFile("ip", ["netns", "list"], (_e, out) => resolve(out)),
  );
  t.notMatch(left, /wpdemo-/, "no demo namespace left");
});
