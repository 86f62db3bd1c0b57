// The mtu verdict of `wireprobe check` (src/check/verdict-mtu.ts), from hand-made mtu records: black holes,
// paths below the expected MTU, silent nodes, working path MTU discovery, the CNI MTU the fix computes (with and
// without an overlay, over IPv4 and IPv6), incomplete work, dual-stack nodes.

import t from "tap";
import { parseNodes } from "../../src/check/nodes";
import { mtuVerdict, OVERLAY_OVERHEAD, parseOverlay } from "../../src/check/verdict-mtu";
import { UsageError } from "../../src/errors";
import type { MtuRecord } from "../../src/records";

function rec(target: string, fields: Partial<MtuRecord>): MtuRecord {
  return {
    type: "mtu",
    target,
    state: "ok",
    pathMtu: 1500,
    interfaceMtu: 1500,
    interface: "eth0",
    ceiling: 1500,
    expectedMtu: null,
    blackHole: false,
    boundary: null,
    reportedMtu: null,
    reportedBy: null,
    probesSent: 2,
    icmpErrors: 0,
    ignoredErrors: 0,
    rttMs: 0.1,
    kernelMtu: null,
    reason: null,
    from: null,
    ...fields,
  };
}

const ok = (a: string) => rec(a, {});
const hole = (a: string, mtu: number) =>
  rec(a, { state: "black-hole", pathMtu: mtu, blackHole: true, boundary: "silent" });
const reduced = (a: string, mtu: number, by = "198.51.100.1") =>
  rec(a, { state: "reduced", pathMtu: mtu, boundary: "too-big", reportedMtu: mtu, reportedBy: by });

t.test("all paths carry the interface's MTU: ok", async (t) => {
  const v = mtuVerdict([ok("198.51.100.11"), ok("198.51.100.12")], {
    targets: ["198.51.100.11", "198.51.100.12"],
  });
  t.match(v, { type: "verdict", check: "mtu", ok: true, complete: true, fix: null, notProbed: [] });
  t.match(v.detail, /No black hole on the paths to the 2 probed address\(es\) \(the smallest: 1500/);
  t.equal(v.evidence.length, 2);
});

t.test("a black hole fails, with the CNI MTU that fits and the ICMP to let through", async (t) => {
  const cluster = parseNodes(["node1=198.51.100.11", "node4=203.0.113.14"]);
  const v = mtuVerdict([ok("198.51.100.11"), hole("203.0.113.14", 1400)], {
    targets: ["198.51.100.11", "203.0.113.14"],
    cluster,
    overlay: parseOverlay("vxlan"),
  });
  t.match(v, { ok: false, complete: true });
  t.match(v.detail, /Black hole: packets above 1400 bytes to node4 \(203\.0\.113\.14\) vanish without/);
  t.match(
    v.fix,
    /Lower the CNI MTU to 1350: the smallest path MTU, 1400 to node4 \(203\.0\.113\.14\), less 50 bytes of vxlan/,
  );
  t.match(v.fix, /fragmentation-needed \(type 3 code 4\)/);
  t.match(
    v.evidence.find((e) => e.subject === "203.0.113.14"),
    { node: "node4", finding: /BLACK HOLE/ },
  );
});

t.test("--expect-mtu: a path below it fails even when the routers say so; at or above passes", async (t) => {
  const low = reduced("198.51.100.12", 1400);
  const v = mtuVerdict([ok("198.51.100.11"), low], { expectMtu: 1450 });
  t.match(v, { ok: false, complete: true });
  t.match(v.detail, /Below the expected 1450: 198\.51\.100\.12 carries 1400 \(the routers say so/);
  t.match(v.fix, /Lower the CNI MTU to 1400, the smallest path MTU/);
  t.notMatch(v.fix, /fragmentation-needed/, "no black hole: nothing to let through");
  const fine = mtuVerdict([ok("198.51.100.11"), reduced("198.51.100.12", 1450)], { expectMtu: 1450 });
  t.match(fine, { ok: true });
  t.match(
    fine.detail,
    /at least the expected 1450 \(the smallest: 1450 to 198\.51\.100\.12\).*path MTU discovery works there/,
  );
  // Without an expectation, a smaller path whose routers speak is fine.
  t.match(mtuVerdict([reduced("198.51.100.12", 1400)]), { ok: true });
});

t.test("a node that answers no echo cannot be measured: a failure that says so", async (t) => {
  const v = mtuVerdict([ok("198.51.100.11"), rec("198.51.100.13", { state: "no-reply", pathMtu: null })]);
  t.match(v, { ok: false, complete: true });
  t.match(v.detail, /198\.51\.100\.13 \(no-reply\) did not answer ICMP echo/);
  t.match(v.fix, /Allow ICMP echo to the nodes/);
});

t.test("this host's own address is neither a pass nor a failure", async (t) => {
  const v = mtuVerdict([rec("198.51.100.10", { state: "local", pathMtu: null }), ok("198.51.100.11")]);
  t.match(v, { ok: true });
  t.match(v.detail, /the 1 probed address/);
});

t.test("missing records and interruptions: incomplete, never ok", async (t) => {
  const v = mtuVerdict([ok("198.51.100.11")], { targets: ["198.51.100.11", "198.51.100.12"] });
  t.match(v, { ok: false, complete: false, notProbed: ["198.51.100.12"] });
  t.match(v.detail, /^Incomplete: 1 of 2 path\(s\) probed/);
  const i = mtuVerdict([ok("198.51.100.11"), rec("198.51.100.12", { state: "incomplete", pathMtu: 1300 })]);
  t.match(i, { ok: false, complete: false });
  const a = mtuVerdict([hole("198.51.100.11", 1400)], { aborted: true });
  t.match(a, { ok: false, complete: false });
  t.match(a.detail, /^Interrupted: .*So far: Black hole/);
});

t.test("dual stack: per family, IPv6's overhead in the fix", async (t) => {
  const cluster = parseNodes(["node2=198.51.100.12", "node2=2001:db8::12"]);
  const v = mtuVerdict([ok("198.51.100.12"), hole("2001:db8::12", 1400)], {
    cluster,
    overlay: parseOverlay("wireguard"),
  });
  t.match(v, { ok: false });
  t.same(
    v.families?.map((f) => [f.family, f.ok]),
    [
      ["ipv4", true],
      ["ipv6", false],
    ],
  );
  t.match(v.fix, /IPv6: Lower the CNI MTU to 1320: .*less 80 bytes of wireguard over IPv6/);
});

t.test("--overlay: names and byte counts; anything else is a usage error", async (t) => {
  t.same(parseOverlay("VXLAN"), { name: "vxlan", ...OVERLAY_OVERHEAD.vxlan });
  t.same(parseOverlay("ipip"), { name: "ipip", ipv4: 20, ipv6: 40 });
  t.match(parseOverlay("58"), { ipv4: 58, ipv6: 58 });
  t.throws(() => parseOverlay("flannel"), UsageError);
  t.throws(() => parseOverlay("-5"), UsageError);
  t.throws(() => parseOverlay("5000"), UsageError);
});
