// `wireprobe dns --race` in the race lab (test/helpers/dns-race-lab.ts): a DNS Service VIP DNATed by nftables
// to two dnsmasq backends, with and without the race's drop rule. Oracles in the same namespaces: dig through
// the VIP, tcpdump on the pod's interface for the shape of the pairs (same source port, A then AAAA back to
// back; two ports for the control), and the drop rule's nftables counter for the loss.

import * as dnsPacket from "dns-packet";
import t from "tap";
import { decodeFrame } from "../src/packet/frame";
import { type DnsRaceOptions, dnsRace, RACE_MAX_PAIRS } from "../src/probes/dns/race";
import type { DnsRacePairs, DnsRaceRecord, SummaryRecord } from "../src/records";
import { startCapture } from "./helpers/capture";
import { runCli } from "./helpers/cli";
import { dig } from "./helpers/dns-lab";
import {
  buildRaceLab,
  conntrackStats,
  NAME,
  NAME_A,
  NAME_AAAA,
  raceDrops,
  startRace,
  stopRace,
  VIP4,
  VIP6,
} from "./helpers/dns-race-lab";
import { withLab } from "./helpers/lab";

const PAIRS = 40;

async function race(options: Partial<DnsRaceOptions> & { netns: string }): Promise<{
  records: Map<string, DnsRaceRecord>;
  summary: SummaryRecord | undefined;
}> {
  const run = dnsRace(NAME, { pairs: PAIRS, servers: [VIP4, VIP6], timeoutMs: 1000, ...options });
  const records = new Map<string, DnsRaceRecord>();
  for await (const r of run) records.set(r.server, r);
  return { records, summary: run.summary };
}

/** Queries lost in a kind's pairs: one per lostA/lostAAAA pair, two per lostBoth pair. */
const lostQueries = (k: DnsRacePairs) => k.lostA + k.lostAAAA + 2 * k.lostBoth;
const lostPairs = (k: DnsRacePairs) => k.lostA + k.lostAAAA + k.lostBoth;

interface Query {
  index: number;
  timestampMs: number;
  source: string;
  port: number;
  server: string;
  qtype: string;
  name: string;
}

/** The DNS queries of a capture (udp dst port 53), in capture order. */
function queriesOf(frames: Array<{ data: Buffer; timestampMs: number }>): Query[] {
  const out: Query[] = [];
  frames.forEach((f, index) => {
    const d = decodeFrame(f.data, { linkType: "ethernet", ipv6: true, verifyChecksums: false });
    if (d.udp?.dstPort !== 53) return;
    const ip = d.ipv4 ?? d.ipv6!;
    const message = dnsPacket.decode(f.data.subarray(d.payload.offset, d.payload.offset + d.payload.length));
    const q = message.questions?.[0];
    out.push({
      index,
      timestampMs: f.timestampMs,
      source: ip.src,
      port: d.udp.srcPort,
      server: ip.dst,
      qtype: q?.type ?? "?",
      name: q?.name ?? "?",
    });
  });
  return out;
}

t.test("the 5-second DNS race in a lab", async (t) => {
  const lab = await withLab(t, { name: "dnsrace", ipv6: true });
  const { pod, node } = await buildRaceLab(lab);
  const ns = pod.ns;

  t.test("dig: the Service VIP answers A and AAAA over both families", async (t) => {
    for (const vip of [VIP4, VIP6]) {
      const a = await dig(pod, vip, NAME, "A");
      const aaaa = await dig(pod, vip, NAME, "AAAA");
      t.equal(a.status, "NOERROR", `${vip} A`);
      t.same(a.answers, [NAME_A]);
      t.equal(aaaa.status, "NOERROR", `${vip} AAAA`);
      t.same(aaaa.answers, [NAME_AAAA]);
    }
  });

  t.test("the race: loss only in the same-socket pairs, equal to the drop rule's counter", async (t) => {
    await startRace(node);
    t.teardown(() => stopRace(node).catch(() => {}));
    const capture = await startCapture(pod, "eth0", "udp dst port 53");
    const { records, summary } = await race({ netns: ns });
    const frames = await capture.stop();
    const drops = await raceDrops(node);

    let lost = 0;
    for (const vip of [VIP4, VIP6]) {
      const r = records.get(vip)!;
      t.ok(r, `a record for ${vip}`);
      t.equal(r.name, NAME);
      t.equal(r.pairs, PAIRS);
      t.equal(r.sameSocket.sent, PAIRS);
      t.equal(r.separateSockets.sent, PAIRS);
      t.equal(lostPairs(r.separateSockets), 0, `${vip}: no separate-socket pair lost a query`);
      t.ok(lostPairs(r.sameSocket) > 0, `${vip}: same-socket pairs lost queries`);
      // The rule drops the second packet of a tuple, which glibc's order makes the AAAA.
      t.equal(r.sameSocket.lostAAAA, lostPairs(r.sameSocket), `${vip}: only AAAA queries lost`);
      t.equal(r.sameSocket.answered + lostPairs(r.sameSocket), PAIRS);
      t.equal(r.race, true, `${vip}: the race`);
      t.ok(r.pValue < 0.01, `${vip}: p = ${r.pValue}`);
      t.equal(r.unsent, 0);
      t.equal(r.error, null);
      lost += lostQueries(r.sameSocket) + lostQueries(r.separateSockets);
      t.comment(
        `${vip}: same socket ${lostPairs(r.sameSocket)}/${PAIRS} lost, separate 0/${PAIRS}, p = ${r.pValue}`,
      );
    }
    t.equal(lost, drops, `queries counted lost (${lost}) = packets the nft rule dropped (${drops})`);
    t.equal(summary?.states.lost, lost);
    t.equal(summary?.packetsSent, 2 * 2 * 2 * PAIRS);

    // tcpdump: the queries come in couples, an A and right after it its AAAA (nothing between them on the
    // wire); a same-socket pair's two from one source port, a separate-socket pair's from two.
    const queries = queriesOf(frames);
    t.equal(queries.length, 2 * 2 * 2 * PAIRS, "every query on the wire once");
    const couples: Array<[Query, Query]> = [];
    for (let k = 0; k + 1 < queries.length; k += 2) couples.push([queries[k]!, queries[k + 1]!]);
    t.ok(
      couples.every(([a, b]) => a.qtype === "A" && b.qtype === "AAAA" && a.server === b.server),
      "every A is followed by its AAAA to the same server",
    );
    t.ok(
      couples.every(([a, b]) => a.name === NAME && b.name === NAME && a.source === b.source),
      `for ${NAME}, from one address`,
    );
    const gaps: number[] = [];
    for (const vip of [VIP4, VIP6]) {
      const mine = couples.filter(([a]) => a.server === vip);
      const same = mine.filter(([a, b]) => a.port === b.port);
      t.equal(same.length, PAIRS, `${vip}: ${PAIRS} pairs from one source port`);
      t.equal(mine.length - same.length, PAIRS, `${vip}: ${PAIRS} pairs from two source ports`);
      // Kinds alternate pair by pair: same socket first.
      t.ok(
        mine.every(([a, b], k) => (a.port === b.port) === (k % 2 === 0)),
        `${vip}: same-socket and separate-socket pairs alternate`,
      );
      for (const [a, b] of same) gaps.push((b.timestampMs - a.timestampMs) * 1000);
    }
    gaps.sort((x, y) => x - y);
    t.comment(
      `A to AAAA on the wire (same socket): median ${gaps[gaps.length >> 1]!.toFixed(0)} us, max ${gaps[gaps.length - 1]!.toFixed(0)} us`,
    );
  });

  t.test("healthy: the same Service without the race, no loss", async (t) => {
    const before = await conntrackStats(node);
    const { records } = await race({ netns: ns });
    const after = await conntrackStats(node);
    for (const vip of [VIP4, VIP6]) {
      const r = records.get(vip)!;
      t.equal(r.sameSocket.answered, PAIRS, `${vip}: every same-socket pair answered`);
      t.equal(r.separateSockets.answered, PAIRS, `${vip}: every separate-socket pair answered`);
      t.equal(r.sameSocket.lossRate, 0);
      t.equal(r.separateSockets.lossRate, 0);
      t.equal(r.race, false);
      t.equal(r.pValue, 1);
    }
    // The kernel's own race would show here: a clash it resolved, or one it dropped.
    t.comment(
      `conntrack on the node: clashres +${after.clashres! - before.clashres!}, insert_failed +${after.insert_failed! - before.insert_failed!}, drop +${after.drop! - before.drop!}`,
    );
    t.equal(after.insert_failed, before.insert_failed, "no conntrack insert failed");
  });

  t.test("the CLI: report and exit code, broken and healthy", async (t) => {
    const healthy = await runCli(ns, ["dns", "--race", "10", "--timeout", "1000", VIP4, VIP6, NAME]);
    t.equal(healthy.code, 0, healthy.stderr);
    t.match(healthy.stdout, /198\.18\.0\.10\s+same socket\s+10\s+10\s+0\s+0\s+0\s+0\.0%/);
    t.match(healthy.stdout, /198\.18\.0\.10: no loss: all 20 pairs answered/);
    await startRace(node);
    t.teardown(() => stopRace(node).catch(() => {}));
    const broken = await runCli(ns, ["dns", "--race", "30", "--timeout", "1000", "--server", VIP4, NAME]);
    t.equal(broken.code, 1, broken.stderr);
    t.match(
      broken.stdout,
      /198\.18\.0\.10: RACE: \d+ of 30 same-socket pairs lost a query \(all AAAA\), 0 of 30/,
    );
    t.match(broken.stdout, /single-request-reopen/);
    t.comment(broken.stdout);
    const json = await runCli(ns, ["dns", "--race", "30", "--timeout", "1000", "--json", VIP6, NAME]);
    t.equal(json.code, 1);
    const lines = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as DnsRaceRecord | SummaryRecord);
    t.equal(lines.length, 2, "a record and the summary");
    const r = lines[0] as DnsRaceRecord;
    t.equal(r.type, "dns-race");
    t.equal(r.server, VIP6);
    t.equal(r.race, true);
    t.equal(lines[1]!.type, "summary");
  });

  t.test("bad input: one line, exit 2, nothing sent", async (t) => {
    const cases: Array<[string[], RegExp]> = [
      [["--race", "0", VIP4, NAME], /--race must be at least 1/],
      [
        ["--race", String(RACE_MAX_PAIRS + 1), VIP4, NAME],
        new RegExp(`--race must be at most ${RACE_MAX_PAIRS}`),
      ],
      [["--race", "99999999999", VIP4, NAME], /--race must be at most/],
      [["--race", "-3", VIP4, NAME], /./],
      [["--race", "x", VIP4, NAME], /whole number/],
      [["--race", "5", VIP4], /needs the NAME/],
      [["--race", "5", VIP4, NAME, "other.name"], /one NAME, got 2/],
      [["--race", "5", "--tcp", VIP4, NAME], /--tcp does not go with --race/],
      [["--race", "5", "--type", "MX", VIP4, NAME], /--type does not go with --race/],
      [["--race-interval", "5", NAME], /--race-interval needs --race/],
      [["--race", "5", "--server", "not-an-ip", NAME], /not an IPv4 or IPv6 address/],
      [["--race", "5", VIP4, "bad..name"], /empty label/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(ns, ["dns", ...args]);
      t.equal(r.code, 2, `${args.join(" ")}: exit 2`);
      t.equal(r.stdout, "", `${args.join(" ")}: nothing on stdout`);
      t.equal(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: one line`);
      t.match(r.stderr, message, args.join(" "));
    }
    t.throws(() => dnsRace(NAME, { pairs: 0, servers: [VIP4] }), { name: "UsageError" });
    t.throws(() => dnsRace(NAME, { pairs: 1.5, servers: [VIP4] }), { name: "UsageError" });
    t.throws(() => dnsRace("", { pairs: 1, servers: [VIP4] }), { name: "UsageError" });
    const many = Array.from({ length: 30 }, (_, i) => `203.0.113.${i + 100}`);
    t.throws(() => dnsRace(NAME, { pairs: RACE_MAX_PAIRS, servers: many }), /too many pairs/);
  });
});
