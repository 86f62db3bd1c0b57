// Per-target probe timeouts (src/engine/timeouts.ts) follow nmap's timing.cc: initial 1 s until a target
// answers, then srtt + 4 x rttvar, floored at 100 ms and capped by --timeout.

import t from "tap";
import { INITIAL_TIMEOUT_MS, MIN_TIMEOUT_MS, TargetTimeouts } from "../../src/engine/timeouts";

t.test("a target that never answered keeps the initial timeout, whatever the others do", async (t) => {
  const timeouts = new TargetTimeouts(3, 5000);
  timeouts.sample(0, 0.2);
  timeouts.sample(0, 0.3);
  t.equal(timeouts.timeoutOf(0), MIN_TIMEOUT_MS, "a fast target: the floor");
  t.equal(timeouts.timeoutOf(1), INITIAL_TIMEOUT_MS, "a silent one: nmap's initial 1 s");
  t.equal(new TargetTimeouts(1, 400).timeoutOf(0), 400, "never more than --timeout");
  t.equal(new TargetTimeouts(1, 50).timeoutOf(0), 50);
});

t.test("the first sample: srtt = rtt, rttvar = max(5 ms, rtt), as nmap starts", async (t) => {
  const timeouts = new TargetTimeouts(2, 5000);
  timeouts.sample(0, 300);
  t.equal(timeouts.timeoutOf(0), 300 + 4 * 300);
  timeouts.sample(1, 30);
  t.equal(timeouts.timeoutOf(1), 150, "30 + 4 x 30");
  const fast = new TargetTimeouts(1, 5000);
  fast.sample(0, 1);
  t.equal(fast.timeoutOf(0), MIN_TIMEOUT_MS, "1 + 4 x 5 = 21: the floor");
  const capped = new TargetTimeouts(1, 1000);
  capped.sample(0, 300);
  t.equal(capped.timeoutOf(0), 1000, "capped by --timeout");
});

t.test("later samples: srtt += delta / 8, rttvar += (|delta| - rttvar) / 4", async (t) => {
  const timeouts = new TargetTimeouts(1, 60_000);
  timeouts.sample(0, 300);
  timeouts.sample(0, 300);
  // srtt 300, rttvar 300 + (0 - 300) / 4 = 225
  t.equal(timeouts.timeoutOf(0), 300 + 4 * 225);
  for (let i = 0; i < 100; i++) timeouts.sample(0, 300);
  t.ok(Math.abs(timeouts.timeoutOf(0) - 300) < 1, "steady round trips: the timeout closes in on them");
  timeouts.sample(0, 700);
  t.ok(timeouts.timeoutOf(0) > 700, `one slower answer widens it at once (${timeouts.timeoutOf(0)})`);
});

t.test("a sample of 8 s or more far above the estimate is ignored, as in nmap", async (t) => {
  const timeouts = new TargetTimeouts(1, 60_000);
  for (let i = 0; i < 20; i++) timeouts.sample(0, 200);
  const before = timeouts.timeoutOf(0);
  timeouts.sample(0, 9000);
  t.equal(timeouts.timeoutOf(0), before);
});
