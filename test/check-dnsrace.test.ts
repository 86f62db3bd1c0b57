// `wireprobe check --dns-race N` in the race lab (test/helpers/dns-race-lab.ts): the dns verdict fails with the
// race's evidence and fix while the node's race rule drops, and passes once it is gone; without --dns-race
// the verdict has no trace of the race.

import t from "tap";
import { check } from "../src/check/check";
import { RACE_MAX_PAIRS } from "../src/probes/dns/race";
import type { DnsRacePairs, DnsRaceRecord, VerdictRecord } from "../src/records";
import { runCli } from "./helpers/cli";
import { buildRaceLab, NAME, raceDrops, startRace, stopRace, VIP4, VIP6 } from "./helpers/dns-race-lab";
import { withLab } from "./helpers/lab";

const lostQueries = (k: DnsRacePairs) => k.lostA + k.lostAAAA + 2 * k.lostBoth;

async function runCheck(netns: string, dnsRace?: number) {
  const run = check({
    dnsServers: [VIP4, VIP6],
    dnsNames: [NAME],
    netns,
    timeoutMs: 1000,
    ...(dnsRace === undefined ? {} : { dnsRace }),
  });
  const races: DnsRaceRecord[] = [];
  const verdicts: VerdictRecord[] = [];
  for await (const r of run) {
    if (r.type === "dns-race") races.push(r);
    if (r.type === "verdict") verdicts.push(r);
  }
  return { races, dns: verdicts.find((v) => v.check === "dns")!, result: run.result! };
}

t.test("check --dns-race in the race lab", async (t) => {
  const lab = await withLab(t, { name: "chkrace", ipv6: true });
  const { pod, node } = await buildRaceLab(lab);
  const ns = pod.ns;

  t.test("the race: the dns verdict fails per family, with the evidence and the fix", async (t) => {
    await startRace(node);
    t.teardown(() => stopRace(node).catch(() => {}));
    const { races, dns, result } = await runCheck(ns, 40);
    const drops = await raceDrops(node);
    t.equal(races.length, 2, "a race record per server");
    t.same(result.dnsRace?.map((r) => r.server).sort(), [VIP4, VIP6].sort());
    t.equal(
      races.reduce((n, r) => n + lostQueries(r.sameSocket) + lostQueries(r.separateSockets), 0),
      drops,
      "the race's lost queries are the packets the nft rule dropped",
    );
    for (const r of races) t.equal(r.race, true, `${r.server}: the race`);
    t.equal(dns.ok, false);
    t.equal(dns.complete, true);
    t.match(
      dns.detail,
      /IPv4: All 1 DNS server\(s\) answer every name, and they agree\. 198\.18\.0\.10 loses one query/,
    );
    t.match(dns.detail, /IPv6: .*2001:db8:53::10 loses one query of glibc's A\/AAAA lookups/);
    t.match(
      dns.fix,
      /IPv4 and IPv6: Use single-request-reopen \(options single-request-reopen in resolv\.conf/,
    );
    t.match(dns.fix, /NodeLocal DNSCache/);
    t.match(dns.families, [
      { family: "ipv4", ok: false },
      { family: "ipv6", ok: false },
    ]);
    for (const vip of [VIP4, VIP6]) {
      t.ok(
        dns.evidence.some(
          (e) => e.subject === `${vip} ${NAME}` && /^A\/AAAA race: .*: the race/.test(e.finding),
        ),
        `${vip}: race evidence`,
      );
    }
  });

  t.test("healthy: the dns verdict passes and says the race was looked for", async (t) => {
    const { races, dns } = await runCheck(ns, 40);
    t.equal(races.length, 2);
    t.equal(dns.ok, true, dns.detail);
    t.match(dns.detail, /No A\/AAAA race: each of the 2 servers answered all 40 pairs/);
    t.equal(dns.fix, null);
  });

  t.test("without --dns-race: no race record, no race in the verdict", async (t) => {
    await startRace(node);
    t.teardown(() => stopRace(node).catch(() => {}));
    const { races, dns, result } = await runCheck(ns);
    t.equal(races.length, 0);
    t.equal(result.dnsRace, undefined);
    t.equal(dns.ok, true, "the dns probe's single queries pass even with the race rule on");
    t.notMatch(dns.detail, /race/);
    t.notOk(dns.evidence.some((e) => /race/.test(e.finding)));
    t.equal(await raceDrops(node), 0, "the dns probe's queries each have their own tuple: nothing dropped");
  });

  t.test("the CLI: the race table, the fix, exit 1; healthy exit 0; bad input exit 2", async (t) => {
    const args = ["check", "--dns", `${VIP4},${VIP6}`, "--dns-name", NAME, "--timeout", "1000"];
    const healthy = await runCli(ns, [...args, "--dns-race", "20"]);
    t.equal(healthy.code, 0, healthy.stdout);
    t.match(healthy.stdout, /DNS RACE\s+SAME SOCKET \(glibc\)\s+SEPARATE SOCKETS\s+RACE/);
    t.match(healthy.stdout, /198\.18\.0\.10\s+0\/20 lost\s+0\/20 lost\s+no/);
    await startRace(node);
    t.teardown(() => stopRace(node).catch(() => {}));
    const broken = await runCli(ns, [...args, "--dns-race", "30"]);
    t.equal(broken.code, 1);
    t.match(broken.stdout, /FAIL\s+dns/);
    t.match(broken.stdout, /2001:db8:53::10\s+\d+\/30 lost \(all AAAA\)\s+0\/30 lost\s+RACE \(p = /);
    t.match(broken.stdout, /FIX\n {2}dns: IPv4 and IPv6: Use single-request-reopen/);
    t.comment(broken.stdout);
    for (const bad of ["0", String(RACE_MAX_PAIRS + 1), "many"]) {
      const r = await runCli(ns, [...args, "--dns-race", bad]);
      t.equal(r.code, 2, `--dns-race ${bad}: exit 2`);
      t.equal(r.stderr.trim().split("\n").length, 1, `--dns-race ${bad}: one line`);
      t.match(r.stderr, /--dns-race/);
    }
  });
});
