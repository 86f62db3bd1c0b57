// The race's part of the dns verdict (src/check/verdict-dnsrace.ts) and its significance test
// (src/probes/dns/race-stats.ts), from hand-made records.

import t from "tap";
import { DNS_FIX, dnsRaceOutcome, LOSS_FIX, RACE_FIX } from "../../src/check/verdict-dnsrace";
import { dnsVerdict } from "../../src/check/verdicts";
import { fisherOneSided, RACE_ALPHA, roundP } from "../../src/probes/dns/race-stats";
import type { DnsRacePairs, DnsRaceRecord, DnsRecord } from "../../src/records";
import { dnsRecord } from "../helpers/records";

const NAME = "kubernetes.default.svc.cluster.local";

function kind(sent: number, lost: Partial<Pick<DnsRacePairs, "lostA" | "lostAAAA" | "lostBoth">> = {}) {
  const lostA = lost.lostA ?? 0;
  const lostAAAA = lost.lostAAAA ?? 0;
  const lostBoth = lost.lostBoth ?? 0;
  const n = lostA + lostAAAA + lostBoth;
  return { sent, answered: sent - n, lostA, lostAAAA, lostBoth, lossRate: n / sent, badAnswers: 0 };
}

function raceRecord(server: string, same: DnsRacePairs, separate: DnsRacePairs): DnsRaceRecord {
  const p = fisherOneSided(
    same.sent - same.answered,
    same.sent,
    separate.sent - separate.answered,
    separate.sent,
  );
  return {
    type: "dns-race",
    server,
    port: 53,
    name: NAME,
    pairs: same.sent,
    sameSocket: same,
    separateSockets: separate,
    race: p < RACE_ALPHA && same.lostA + same.lostAAAA > 0,
    pValue: roundP(p),
    timeoutMs: 2000,
    unsent: 0,
    error: null,
  };
}

function dnsOk(server: string): DnsRecord {
  return dnsRecord(server, "ok", ["198.18.0.1"], { name: NAME });
}

t.test("Fisher's exact test, one-sided", async (t) => {
  // 5 lost of 200, all 5 among the first 100: C(100,5) / C(200,5).
  const exact = (100 * 99 * 98 * 97 * 96) / (200 * 199 * 198 * 197 * 196);
  t.ok(Math.abs(fisherOneSided(5, 100, 0, 100) - exact) < 1e-12, `p = ${exact}`);
  t.equal(fisherOneSided(0, 100, 0, 100), 1, "nothing lost: 1");
  t.equal(fisherOneSided(0, 100, 7, 100), 1, "the control loses more: 1");
  t.ok(fisherOneSided(20, 40, 0, 40) < 1e-6, "20 of 40 against none: far below any threshold");
  t.ok(fisherOneSided(3, 10, 0, 10) > RACE_ALPHA, "3 of 10 against none: too few to tell");
  t.ok(fisherOneSided(10, 100, 10, 100) > 0.5, "as many on both sides: chance");
  t.ok(fisherOneSided(100, 100, 100, 100) === 1, "everything lost: 1");
  t.equal(roundP(0.000123456), 0.000123);
});

t.test("the race: the dns verdict fails per server with the race's fix", async (t) => {
  const race = raceRecord("198.18.0.10", kind(50, { lostAAAA: 23 }), kind(50));
  t.equal(race.race, true);
  const v = dnsVerdict(
    [dnsOk("198.18.0.10")],
    [],
    [],
    { servers: ["198.18.0.10"], names: [NAME] },
    {
      records: [race],
      servers: ["198.18.0.10"],
    },
  );
  t.equal(v.check, "dns");
  t.equal(v.ok, false);
  t.equal(v.complete, true);
  t.match(
    v.detail,
    /^All 1 DNS server\(s\) answer every name, and they agree\. 198\.18\.0\.10 loses one query/,
  );
  t.match(
    v.detail,
    /23 of 50 pairs sent from one socket.*lost a query \(all AAAA\), and 0 of 50 pairs sent from two/,
  );
  t.match(v.detail, /5-second DNS race \(kubernetes\/kubernetes#56903\)/);
  t.equal(v.fix, RACE_FIX);
  t.match(v.fix, /single-request-reopen/);
  t.match(v.fix, /NodeLocal DNSCache/);
  const evidence = v.evidence.find((e) => e.finding.startsWith("A/AAAA race"));
  t.match(evidence, {
    subject: `198.18.0.10 ${NAME}`,
    family: "ipv4",
    finding: /same socket 23\/50 lost \(all AAAA\), separate sockets 0\/50 lost: the race/,
  });
  t.same(v.notProbed, []);
});

t.test("no loss: ok, and the detail says the race was looked for", async (t) => {
  const records = [
    raceRecord("198.18.0.10", kind(50), kind(50)),
    raceRecord("198.18.0.11", kind(50), kind(50)),
  ];
  const v = dnsVerdict([dnsOk("198.18.0.10"), dnsOk("198.18.0.11")], [], [], {}, { records });
  t.equal(v.ok, true);
  t.equal(v.fix, null);
  t.match(v.detail, /No A\/AAAA race: each of the 2 servers answered all 50 pairs sent as glibc sends them/);
  t.equal(v.evidence.length, 4, "the dns records' evidence, then the race's");
});

t.test("loss that is not the race: fails with the loss's fix, not the race's", async (t) => {
  const even = raceRecord("198.18.0.10", kind(50, { lostA: 2, lostAAAA: 1 }), kind(50, { lostAAAA: 3 }));
  t.equal(even.race, false);
  const o = dnsRaceOutcome({ records: [even] }, null);
  t.equal(o.ok, false);
  t.match(
    o.detail,
    /loses DNS queries: 3 of 50 same-socket and 3 of 50 separate-socket.*random loss, not the race/,
  );
  t.equal(o.fix, LOSS_FIX);
  const few = raceRecord("198.18.0.10", kind(10, { lostAAAA: 3 }), kind(10));
  t.equal(few.race, false, "3 of 10 against none is not significant");
  t.match(dnsRaceOutcome({ records: [few] }, null).detail, /too few to tell the race from random loss/);
  const dead = raceRecord("198.18.0.10", kind(5, { lostBoth: 5 }), kind(5, { lostBoth: 5 }));
  t.match(dnsRaceOutcome({ records: [dead] }, null).detail, /answered none of the A\/AAAA race's queries/);
  t.equal(
    dnsRaceOutcome({ records: [dead] }, null).fix,
    DNS_FIX,
    "a silent server: the dns verdict's own fix",
  );
  const timeout: DnsRecord = { ...dnsOk("198.18.0.10"), status: "timeout", rcode: null, answers: [] };
  const v = dnsVerdict([timeout], [], [], {}, { records: [dead] });
  t.equal(v.fix, DNS_FIX, "once, not twice");
  // The demo's broken cluster: a silent server and the race at another (the VIP): DNS_FIX once, then the race's.
  const vip = raceRecord("198.18.53.10", kind(50, { lostAAAA: 24 }), kind(50));
  const mixed = dnsVerdict([timeout, dnsOk("198.18.53.10")], [], [], {}, { records: [dead, vip] });
  t.equal(mixed.fix, `${DNS_FIX} ${RACE_FIX}`, "each fix once, the dns verdict's first");
  const both = raceRecord("198.18.0.10", kind(100, { lostBoth: 20 }), kind(100));
  t.equal(both.race, false, "losing both queries of a pair is not the race's shape");
});

t.test("unsent pairs fail the verdict and say why", async (t) => {
  const r = {
    ...raceRecord("198.18.0.10", kind(3), kind(3)),
    unsent: 4,
    error: "cannot send: Operation not permitted",
  };
  const o = dnsRaceOutcome({ records: [r] }, null);
  t.equal(o.ok, false);
  t.match(o.detail, /4 A\/AAAA pair\(s\) could not be sent \(cannot send: Operation not permitted\)/);
});

t.test("a server without a race record, or an interrupted race: incomplete, never ok", async (t) => {
  const o = dnsRaceOutcome(
    { records: [raceRecord("198.18.0.10", kind(5), kind(5))], servers: ["198.18.0.10", "2001:db8:53::10"] },
    null,
  );
  t.equal(o.ok, false);
  t.equal(o.complete, false);
  t.same(o.notProbed, ["2001:db8:53::10 race"]);
  t.match(o.detail, /The A\/AAAA race is incomplete: not raced: 2001:db8:53::10\. Not final\./);
  const aborted = dnsRaceOutcome(
    { records: [raceRecord("198.18.0.10", kind(5), kind(5))], aborted: true },
    null,
  );
  t.equal(aborted.complete, false);
  t.match(aborted.detail, /was interrupted/);
  t.match(aborted.fix, /Run the check again/);
  const v = dnsVerdict([dnsOk("198.18.0.10")], [], [], {}, { records: [], servers: ["198.18.0.10"] });
  t.equal(v.complete, false);
  t.equal(v.ok, false);
  t.same(v.notProbed, ["198.18.0.10 race"]);
});

t.test("per family: a race over IPv6 only fails IPv6, not IPv4", async (t) => {
  const servers = ["198.18.0.10", "2001:db8:53::10"];
  const records = [
    raceRecord("198.18.0.10", kind(40), kind(40)),
    raceRecord("2001:db8:53::10", kind(40, { lostAAAA: 18 }), kind(40)),
  ];
  const v = dnsVerdict(servers.map(dnsOk), [], [], { servers, names: [NAME] }, { records, servers });
  t.equal(v.ok, false);
  t.match(v.families, [
    { family: "ipv4", ok: true, complete: true },
    { family: "ipv6", ok: false, complete: true },
  ]);
  t.match(v.detail, /IPv6: .*2001:db8:53::10 loses one query/);
  t.match(v.fix, /^IPv6: Use single-request-reopen/);
});

t.test("without the race the dns verdict is what it was", async (t) => {
  const servers = ["198.18.0.10", "2001:db8:53::10"];
  const failing: DnsRecord = { ...dnsOk("198.18.0.10"), status: "timeout", rcode: null, answers: [] };
  for (const records of [servers.map(dnsOk), [failing, dnsOk("2001:db8:53::10")]]) {
    const before = dnsVerdict(records, [], [], { servers, names: [NAME] });
    t.same(dnsVerdict(records, [], [], { servers, names: [NAME] }, undefined), before);
  }
  // With both a dns failure and the race, both fixes, the dns one first.
  const v = dnsVerdict(
    [failing],
    [],
    [],
    { servers: ["198.18.0.10"], names: [NAME] },
    {
      records: [raceRecord("198.18.0.10", kind(40, { lostAAAA: 15 }), kind(40))],
    },
  );
  t.match(v.fix, /^Make every --cluster-dns server reachable.*Use single-request-reopen/);
});
