// `wireprobe demo --dual-stack`: the broken cluster with IPv6 addresses too gives each verdict per family, all
// failing on both (the healthy one: demo6-healthy.test.ts); nothing is left behind.

import { execFile } from "node:child_process";
import t from "tap";
import { cli } from "./helpers/check6";

t.test("demo --dual-stack: each verdict per family, failing on both", async (t) => {
  const broken = await cli(["demo", "--dual-stack"], 300_000);
  t.equal(broken.code, 0, `the demo finds what its lab was built to show (${broken.stderr.trim()})`);
  const lines = broken.stdout.split("\n");
  const at = lines.indexOf("VERDICTS");
  t.match(lines[at + 1], /^ {2}FAIL {2}host-gw {3}IPv4 {2}FAIL {2}node4 \(203\.0\.113\.14\) is not on-link/);
  t.match(lines[at + 2], /^ {18}IPv6 {2}FAIL {2}node4 \(2001:db8:2::14\) is not on-link .*`ip -6 route add/);
  t.match(
    lines[at + 3],
    /^ {2}FAIL {2}nodeport {2}IPv4 {2}FAIL {2}nodePort 30000 answers only on node2 \(198\.51\.100\.12\)/,
  );
  t.match(lines[at + 4], /^ {18}IPv6 {2}FAIL {2}nodePort 30000 answers only on node2 \(2001:db8:1::12\)/);
  t.match(lines[at + 5], /^ {2}FAIL {2}dns {7}IPv4 {2}FAIL {2}198\.51\.100\.55 does not answer DNS/);
  t.match(
    lines[at + 6],
    /^ {18}IPv6 {2}FAIL {2}2001:db8:1::55 does not answer DNS .*2001:db8:1::54 NOERROR 198\.18\.1\.21/,
  );
  t.match(
    broken.stdout,
    /^node4\s+203\.0\.113\.14\s+not-on-link \(via 198\.51\.100\.1\)\s+closed \(reset\)$/m,
  );
  t.match(broken.stdout, /^\s+2001:db8:2::14\s+not-on-link \(via 2001:db8:1::1\)\s+closed \(reset\)$/m);
  t.match(broken.stdout, /^2001:db8:3::100\s+reply/m, "the outside world over IPv6");

  const left = await new Promise<string>((resolve) =>
    execFile("ip", ["netns", "list"], (_e, out) => resolve(out)),
  );
  t.notMatch(left, /wpdemo-/, "no demo namespace left");
});
