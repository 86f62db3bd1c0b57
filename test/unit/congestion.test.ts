// The congestion window (src/engine/congestion.ts): grows with answers, is cut by loss once per burst, and
// scales its growth up when few probes get answers (a mostly filtered scan).

import t from "tap";
import { Congestion } from "../../src/engine/congestion";

const options = { initialWindow: 10, minWindow: 2, maxWindow: 500, initialSsthresh: 75, maxScale: 50 };

t.test("slow start: one more probe per answer until ssthresh, then about one per window", async (t) => {
  const c = new Congestion(options);
  t.equal(c.limit(), 10);
  for (let k = 0; k < 10; k++) c.answered(false, 1, 10);
  t.equal(c.limit(), 20, "ten answers: ten more");
  while (c.window < 75) c.answered(false, 2, 10);
  const before = c.window;
  for (let k = 0; k < Math.round(before); k++) c.answered(false, 3, 10);
  t.ok(c.window > before && c.window < before + 1.5, `congestion avoidance: ${before} -> ${c.window}`);
});

t.test("never above the largest window, never below the smallest", async (t) => {
  const c = new Congestion({ ...options, initialSsthresh: 100000 });
  for (let k = 0; k < 2000; k++) c.answered(false, 0, 0);
  t.equal(c.limit(), 500);
  t.equal(c.peakWindow, 500);
  for (let k = 0; k < 20; k++) c.loss(k * 100, 1);
  t.equal(c.limit(), 2);
});

t.test("a loss halves the window once per burst", async (t) => {
  const c = new Congestion(options);
  for (let k = 0; k < 30; k++) c.answered(false, 0, 30);
  t.equal(c.limit(), 40);
  c.answered(true, 10, 40);
  t.equal(c.limit(), 20, "a retransmitted probe answered: halved");
  c.loss(20, 20);
  t.equal(c.limit(), 20, "a second loss right after is the same burst");
  c.loss(100, 20);
  t.equal(c.limit(), 10, "a later loss cuts again");
  t.equal(c.losses, 3);
});

t.test("few answers scale the growth up (nmap's cc_scale)", async (t) => {
  const c = new Congestion(options);
  c.timedOut(10);
  c.answered(false, 0, 1);
  t.equal(c.window, 10 + 11, "1 answer of 11 expected: the increment is 11");
  c.timedOut(1000);
  c.answered(false, 0, 1);
  t.equal(c.window, 21 + 50, "at most maxScale");
});
