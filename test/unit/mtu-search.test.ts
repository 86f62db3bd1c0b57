// The path MTU search (src/probes/mtu/search.ts) against simulated paths: a clean one, routers that answer
// frag-needed with or without an MTU, silent drops above a size (black holes), a mix, lost probes, forged
// errors. The search must land on the exact size every time, say how the boundary failed, and take few probes.

import t from "tap";
import {
  ERROR,
  PENDING,
  type ProbeHistory,
  REPLY,
  type SearchLimits,
  SILENT,
  searchMtu,
  TOO_BIG,
} from "../../src/probes/mtu/search";

/** What a simulated path does with a probe of `size` on its `attempt`-th try at that size (1 = first). */
type Answer = { kind: "reply" } | { kind: "too-big"; mtu: number } | { kind: "silent" } | { kind: "error" };
type Path = (size: number, attempt: number) => Answer;

class History implements ProbeHistory {
  sizes: number[] = [];
  outcomes: number[] = [];
  mtus: number[] = [];
  get count() {
    return this.sizes.length;
  }
  size(k: number) {
    return this.sizes[k]!;
  }
  outcome(k: number) {
    return this.outcomes[k]!;
  }
  announced(k: number) {
    return this.mtus[k]!;
  }
  add(size: number, outcome: number, mtu = 0) {
    this.sizes.push(size);
    this.outcomes.push(outcome);
    this.mtus.push(mtu);
  }
}

const LIMITS: SearchLimits = { min: 68, max: 1500, attempts: 2, floor: 68 };

/** Runs the search against a path until it is over (or 60 probes, a failure). */
function search(path: Path, limits: SearchLimits = LIMITS) {
  const h = new History();
  const tries = new Map<number, number>();
  for (let n = 0; n < 60; n++) {
    const r = searchMtu(h, limits);
    if (r.over) return { ...r, probes: h.count, sizes: h.sizes };
    const attempt = (tries.get(r.next) ?? 0) + 1;
    tries.set(r.next, attempt);
    const a = path(r.next, attempt);
    if (a.kind === "reply") h.add(r.next, REPLY);
    else if (a.kind === "too-big") h.add(r.next, TOO_BIG, a.mtu);
    else if (a.kind === "silent") h.add(r.next, SILENT);
    else h.add(r.next, ERROR);
  }
  throw new Error(`no end after 60 probes: ${h.sizes.join(" ")}`);
}

const reply = { kind: "reply" } as const;
const silent = { kind: "silent" } as const;
const tooBig = (mtu: number) => ({ kind: "too-big", mtu }) as const;
const clean: Path = () => reply;
const fragNeeded =
  (mtu: number, announce = mtu): Path =>
  (s) =>
    s <= mtu ? reply : tooBig(announce);
const blackHole =
  (mtu: number): Path =>
  (s) =>
    s <= mtu ? reply : silent;

t.test("a clean path: the smallest size, then the interface's MTU, and done", async (t) => {
  const r = search(clean);
  t.same(r.sizes, [68, 1500]);
  t.match(r, { pathMtu: 1500, boundary: null, blackHole: false, reachable: true, reportedMtu: 0 });
});

t.test("a router that announces its MTU: its MTU and one byte more are enough", async (t) => {
  const r = search(fragNeeded(1400));
  t.same(r.sizes, [68, 1500, 1400, 1401]);
  t.match(r, { pathMtu: 1400, boundary: "too-big", blackHole: false, reportedMtu: 1400, reportedAt: 1 });
  t.equal(r.believedErrors, 2);
});

t.test("a black hole at a common MTU takes a handful of probes; silence is tried twice", async (t) => {
  const r = search(blackHole(1450));
  t.match(r, { pathMtu: 1450, boundary: "silent", blackHole: true, reportedMtu: 0, reportedAt: -1 });
  t.ok(r.probes <= 8, `${r.probes} probes: ${r.sizes.join(" ")}`);
  t.equal(r.sizes.filter((s) => s === 1451).length, 2, "1451 was tried twice before it counted as dropped");
});

t.test("every black hole and every announced MTU from 68 to 1500 is found exactly", async (t) => {
  let worstHole = 0;
  let worstFrag = 0;
  let wrong = 0;
  for (let m = 68; m <= 1500; m++) {
    const hole = search(blackHole(m));
    const frag = search(fragNeeded(m));
    const legacy = search(fragNeeded(m, 0));
    if (hole.pathMtu !== m || hole.blackHole !== m < 1500) wrong++;
    if (frag.pathMtu !== m || frag.blackHole) wrong++;
    if (legacy.pathMtu !== m || legacy.blackHole) wrong++;
    worstHole = Math.max(worstHole, hole.probes);
    worstFrag = Math.max(worstFrag, frag.probes);
  }
  t.equal(wrong, 0, "no wrong answer");
  t.ok(worstHole <= 20, `black holes: at most ${worstHole} probes`);
  t.ok(worstFrag <= 4, `announced MTUs: at most ${worstFrag} probes`);
});

t.test(
  "a router that announces 1400 before a hop that drops above 1300 without a word: a black hole",
  async (t) => {
    const path: Path = (s) => (s > 1400 ? tooBig(1400) : s > 1300 ? silent : reply);
    const r = search(path);
    t.match(r, { pathMtu: 1300, blackHole: true, boundary: "silent", reportedMtu: 1400 });
  },
);

t.test("a router that rate-limits its errors after announcing the MTU is no black hole", async (t) => {
  let errors = 0;
  const path: Path = (s) => {
    if (s <= 1400) return reply;
    return errors++ === 0 ? tooBig(1400) : silent;
  };
  const r = search(path);
  t.match(r, { pathMtu: 1400, blackHole: false, reportedMtu: 1400 });
});

t.test("a lost probe does not make a black hole", async (t) => {
  // 1500 gets through, but its first try is lost.
  const r = search((_s, attempt) => (attempt === 1 && _s === 1500 ? silent : reply));
  t.match(r, { pathMtu: 1500, blackHole: false });
  // 1450's first try is lost on a path that carries 1480: the search comes back to it.
  const r2 = search((s, attempt) => (s === 1450 && attempt === 1 ? silent : s <= 1480 ? reply : silent));
  t.match(r2, { pathMtu: 1480, blackHole: true });
});

t.test("a target that answers nothing, or only errors", async (t) => {
  const r = search(() => silent);
  t.match(r, { reachable: false, pathMtu: 0, blackHole: false, boundary: null });
  t.same(r.sizes, [68, 68], "the smallest size twice, nothing else");
  const e = search(() => ({ kind: "error" }));
  t.match(e, { reachable: false, pathMtu: 0 });
  t.same(e.sizes, [68], "an error needs no second try");
});

t.test("another ICMP error above a size: a failure, not explained as too big", async (t) => {
  const r = search((s) => (s <= 1200 ? reply : { kind: "error" }));
  t.match(r, { pathMtu: 1200, boundary: "error", blackHole: true });
});

t.test("errors that are not the path speaking", async (t) => {
  // An error whose probe also got a reply, and an announced MTU below a size that got through.
  const h = new History();
  h.add(68, REPLY);
  h.add(1500, REPLY);
  h.add(1500, TOO_BIG, 1400);
  let r = searchMtu(h, LIMITS);
  t.match(r, { over: true, pathMtu: 1500, believedErrors: 0, contradictedErrors: 1 });
  const g = new History();
  g.add(68, REPLY);
  g.add(1500, TOO_BIG, 576);
  g.add(1450, REPLY);
  r = searchMtu(g, LIMITS);
  t.equal(r.contradictedErrors, 1, "576 announced, 1450 got through");
  t.not(r.next, 576, "the announced 576 is not tried");
  t.equal(r.reportedMtu, 0, "nor reported");
  // A forged "mtu 68" on every probe while everything gets through: replies win.
  const forged = search(() => reply);
  t.equal(forged.pathMtu, 1500);
});

t.test("a probe in flight is not sent again; the IPv6 floor; --max below the interface", async (t) => {
  const h = new History();
  h.add(1280, REPLY);
  h.add(1500, PENDING);
  const r = searchMtu(h, { min: 1280, max: 1500, attempts: 2, floor: 1280 });
  t.not(r.next, 1500);
  const v6 = search(fragNeeded(1400), { min: 1280, max: 1500, attempts: 2, floor: 1280 });
  t.match(v6, { pathMtu: 1400, reportedMtu: 1400 });
  t.same(v6.sizes.slice(0, 2), [1280, 1500]);
  const capped = search(clean, { ...LIMITS, max: 1400 });
  t.same(capped.sizes, [68, 1400]);
  const jumbo = search(blackHole(8950), { ...LIMITS, max: 9000 });
  t.match(jumbo, { pathMtu: 8950, blackHole: true });
  t.ok(jumbo.probes <= 10, `jumbo: ${jumbo.sizes.join(" ")}`);
});
