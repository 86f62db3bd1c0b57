// `wireprobe dns --race` against a hostile server (test/helpers/dns-hostile.ts): forged IDs, other questions,
// garbage, messages cut short, answers from another port or address, floods. The race must never crash and
// never count anything but a real answer to one of a pair's two queries.

import t from "tap";
import { dnsRace } from "../src/probes/dns/race";
import type { DnsRacePairs, DnsRaceRecord } from "../src/records";
import { runCli } from "./helpers/cli";
import { startHostileDns } from "./helpers/dns-lab";
import { withLab } from "./helpers/lab";

const HOSTILE = "198.51.100.66";
const OTHER = "198.51.100.67";

async function raceOne(name: string, pairs: number, netns: string): Promise<DnsRaceRecord> {
  const records: DnsRaceRecord[] = [];
  for await (const r of dnsRace(name, { pairs, servers: [HOSTILE], netns, timeoutMs: 700 })) records.push(r);
  if (records.length !== 1) throw new Error(`${records.length} records for ${name}`);
  return records[0]!;
}

const kinds = (r: DnsRaceRecord): Array<[string, DnsRacePairs]> => [
  ["same socket", r.sameSocket],
  ["separate sockets", r.separateSockets],
];

t.test("the race against a hostile DNS server", async (t) => {
  const lab = await withLab(t, "rchost");
  const lan = await lab.segment("lan");
  const client = await lab.host("client");
  await client.connect(lan, { address: "198.51.100.10/24" });
  const evil = await lab.host("evil");
  await evil.connect(lan, { address: [`${HOSTILE}/24`, `${OTHER}/24`] });
  await startHostileDns(evil, HOSTILE, OTHER);
  const ns = client.ns;
  const PAIRS = 3;

  // name → [answered pairs of each kind, bad answers per kind (null: not exactly known)]
  const expected: Array<[string, number, number | null]> = [
    ["ok.lab", PAIRS, 0],
    // Wrong IDs, other questions, the query sent back, another opcode: one bad datagram per query.
    ["wrong-id.lab", 0, 2 * PAIRS],
    ["wrong-q.lab", 0, 2 * PAIRS],
    ["wrong-type.lab", 0, 2 * PAIRS],
    ["qr0.lab", 0, 2 * PAIRS],
    ["opcode.lab", 0, 2 * PAIRS],
    ["garbage.lab", 0, 2 * PAIRS],
    // Shorter than a header, cut in the middle without TC, a looping name pointer: never an answer.
    ["short.lab", 0, 2 * PAIRS],
    ["cut.lab", 0, 2 * PAIRS],
    ["bad-pointer.lab", 0, 2 * PAIRS],
    // From another port or another address: not from the server, not even counted as bad.
    ["other-port.lab", 0, 0],
    ["other-addr.lab", 0, 0],
    ["bad-then-ok.lab", PAIRS, 2 * PAIRS],
    // TC with no records: a real answer; the query reached the server, which is all the race asks.
    ["tc.lab", PAIRS, 0],
    ["silent.lab", 0, 0],
  ];
  for (const [name, answered, bad] of expected) {
    const r = await raceOne(name, PAIRS, ns);
    for (const [kind, k] of kinds(r)) {
      t.equal(k.sent, PAIRS, `${name} ${kind}: sent`);
      t.equal(k.answered, answered, `${name} ${kind}: answered`);
      t.equal(k.lostBoth, PAIRS - answered, `${name} ${kind}: both queries lost in every unanswered pair`);
      t.equal(k.lostA + k.lostAAAA, 0, `${name} ${kind}: never one query of the two`);
      if (bad !== null) t.equal(k.badAnswers, bad, `${name} ${kind}: bad answers`);
    }
    t.equal(r.race, false, `${name}: no race`);
  }

  t.test("floods: 3000 bad datagrams per query", async (t) => {
    const flood = await raceOne("flood.lab", 1, ns);
    const then = await raceOne("flood-then-ok.lab", 1, ns);
    for (const [kind, k] of kinds(flood)) {
      t.equal(k.answered, 0, `flood ${kind}: nothing answered`);
      t.ok(k.badAnswers > 0, `flood ${kind}: ${k.badAnswers} bad answers`);
    }
    for (const [kind, k] of kinds(then)) {
      // The good answers come last, behind 3000 bad ones each: the socket's buffer (glibc's default size) may
      // drop them; what matters is that the run goes on and counts its pair once.
      t.equal(k.sent, 1, `flood-then-ok ${kind}: sent`);
      t.equal(k.answered + k.lostA + k.lostAAAA + k.lostBoth, 1, `flood-then-ok ${kind}: one outcome`);
      t.ok(k.badAnswers > 0, `flood-then-ok ${kind}: ${k.badAnswers} bad answers, answered ${k.answered}`);
    }
  });

  t.test("the CLI reports a hostile server and exits 1", async (t) => {
    const r = await runCli(ns, ["dns", "--race", "2", "--timeout", "700", HOSTILE, "garbage.lab"]);
    t.equal(r.code, 1, r.stderr);
    t.equal(r.stderr, "");
    t.match(r.stdout, /no answers at all.*8 datagram\(s\) from the server answered neither query/);
  });
});
