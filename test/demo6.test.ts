// `wireprobe demo --dual-stack`: the broken cluster with IPv6 addresses too gives each verdict per family (the
// five: host-gw, nodeport, dns with the A/AAAA race, mtu, routes), all failing on both (the healthy one: demo6-healthy.test.ts); nothing is left behind.

import t from "tap";
import { cli, demoLeftovers } from "./helpers/check6";

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
    lines[at + 5],
    /198\.18\.53\.10 loses one query of glibc's A\/AAAA lookups: \d+ of 50 pairs .*\(all AAAA\)/,
  );
  t.match(
    lines[at + 6],
    /2001:db8:53::10 loses one query of glibc's A\/AAAA lookups: \d+ of 50 pairs .*\(all AAAA\)/,
  );
  t.match(
    lines[at + 7],
    /^ {2}FAIL {2}mtu {7}IPv4 {2}FAIL {2}Black hole: packets above 1400 bytes to node4 \(203\.0\.113\.14\) vanish/,
  );
  t.match(
    lines[at + 8],
    /^ {18}IPv6 {2}FAIL {2}Black hole: packets above 1400 bytes to node4 \(2001:db8:2::14\) vanish/,
  );
  t.match(
    lines[at + 9],
    /^ {2}FAIL {2}routes {4}IPv4 {2}FAIL {2}1 route goes via a gateway that does not answer ARP: 198\.18\.15\.0\/24 via 198\.51\.100\.15 dev eth0\./,
  );
  t.match(
    lines[at + 10],
    /^ {18}IPv6 {2}FAIL {2}1 route goes via a gateway that does not answer NDP: 2001:db8:15::\/64 via 2001:db8:1::15 dev eth0\./,
  );
  t.match(broken.stdout, /^2001:db8:53::10\s+\d+\/50 lost \(all AAAA\)\s+0\/50 lost\s+RACE \(p = /m);
  t.match(broken.stdout, /^2001:db8:1::53\s+0\/50 lost\s+0\/50 lost\s+no$/m, "no race asking dns1 directly");
  t.match(broken.stdout, /^2001:db8:2::14\s+black-hole\s+1400\s+BLACK HOLE: 1401-1500 bytes vanish/m);
  t.match(broken.stdout, /^2001:db8:15::\/64 via 2001:db8:1::15 dev eth0\s+no-reply/m);
  t.match(
    broken.stdout,
    /IPv6: Lower the CNI MTU to 1330: the smallest path MTU, 1400 to node4 \(2001:db8:2::14\), less 70 bytes of vxlan over IPv6\./,
  );
  t.match(broken.stdout, /`ip -6 route del 2001:db8:15::\/64 via 2001:db8:1::15 dev eth0`/);
  t.match(
    broken.stdout,
    /^node4\s+203\.0\.113\.14\s+not-on-link \(via 198\.51\.100\.1\)\s+closed \(reset\)$/m,
  );
  t.match(broken.stdout, /^\s+2001:db8:2::14\s+not-on-link \(via 2001:db8:1::1\)\s+closed \(reset\)$/m);
  t.match(broken.stdout, /^2001:db8:3::100\s+reply/m, "the outside world over IPv6");

  t.same(await demoLeftovers(), [], "no demo namespace left");
});
