// `wireprobe arp` against a real lab: two segments joined by a router, checked against arping, arp-scan
// and a tcpdump capture. The prober always runs inside the lab's node namespace.

import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import type { Host, Lab } from "../src/lab";
import { arp } from "../src/probes/arp/arp";
import type { ArpRecord, SummaryRecord } from "../src/records";
import { startCapture } from "./helpers/capture";
import { unprivilegedBin } from "./helpers/cli";
import { withLab } from "./helpers/lab";
import { arpingOracle } from "./helpers/oracles";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");

interface Topology {
  lab: Lab;
  node: Host;
  nodeMac: string;
  macs: Record<string, string>;
  peerB: Host;
}

/**
 *   segment a 198.51.100.0/24: node .10, peer .11, router .1, dup1 .50, dup2 .50 (address conflict)
 *   segment b 203.0.113.0/24:  router .1, peerB .20
 *   node's default route goes via the router.
 */
async function build(lab: Lab): Promise<Topology> {
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.router("r", [
    [a, "198.51.100.1/24"],
    [b, "203.0.113.1/24"],
  ]);
  const node = await lab.host("node");
  const nodeIf = await node.connect(a, { address: "198.51.100.10/24" });
  await node.route(["default", "via", "198.51.100.1"]);
  const peer = await lab.host("peer");
  const peerIf = await peer.connect(a, { address: "198.51.100.11/24" });
  const dup1 = await lab.host("dup1");
  const dup1If = await dup1.connect(a, { address: "198.51.100.50/24" });
  const dup2 = await lab.host("dup2");
  const dup2If = await dup2.connect(a, { address: "198.51.100.50/24" });
  const peerB = await lab.host("peerb");
  await peerB.connect(b, { address: "203.0.113.20/24" });
  await peerB.route(["default", "via", "203.0.113.1"]);
  return {
    lab,
    node,
    nodeMac: nodeIf.mac,
    peerB,
    macs: {
      router: await router.mac("eth0"),
      peer: peerIf.mac,
      dup1: dup1If.mac,
      dup2: dup2If.mac,
    },
  };
}

async function collect(
  run: AsyncIterable<ArpRecord> & { summary: SummaryRecord | undefined },
): Promise<Map<string, ArpRecord>> {
  const out = new Map<string, ArpRecord>();
  for await (const r of run) {
    if (out.has(r.target)) throw new Error(`two records for ${r.target}`);
    out.set(r.target, r);
  }
  return out;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
    });
  });
}

t.test("arp in a two-segment lab", async (t) => {
  const lab = await withLab(t, "arp");
  const topo = await build(lab);
  const ns = topo.node.ns;

  t.test("every kind of target gets exactly one true record", async (t) => {
    const targets = [
      "198.51.100.11",
      "198.51.100.1",
      "198.51.100.99",
      "203.0.113.20",
      "198.51.100.10",
      "198.51.100.50",
    ];
    const run = arp(targets, { netns: ns, timeoutMs: 400, retries: 1 });
    const got = await collect(run);
    t.equal(got.size, targets.length, "one record per target");

    const peer = got.get("198.51.100.11")!;
    t.match(peer, {
      state: "reply",
      mac: topo.macs.peer,
      interface: "eth0",
      conflict: false,
      source: "198.51.100.10",
    });
    t.ok(peer.rttMs !== null && peer.rttMs >= 0 && peer.rttMs < 400, `rtt ${peer.rttMs} ms`);
    t.match(got.get("198.51.100.1"), { state: "reply", mac: topo.macs.router });
    t.match(got.get("198.51.100.99"), { state: "no-reply", mac: null, sent: 2, interface: "eth0" });
    t.match(got.get("203.0.113.20"), { state: "not-on-link", gateway: "198.51.100.1", sent: 0 });
    t.match(got.get("198.51.100.10"), { state: "local", sent: 0 });
    const dup = got.get("198.51.100.50")!;
    t.equal(dup.state, "reply");
    t.equal(dup.conflict, true, "two hosts answering one address is a conflict");
    t.same([...dup.macs].sort(), [topo.macs.dup1, topo.macs.dup2].sort(), "both MACs reported");
    t.match(run.summary, {
      type: "summary",
      command: "arp",
      targets: 6,
      states: { reply: 3, "no-reply": 1, "not-on-link": 1, local: 1 },
    });
  });

  t.test("agrees with arping run in the same namespace", async (t) => {
    for (const target of ["198.51.100.11", "198.51.100.1", "198.51.100.99", "198.51.100.50"]) {
      const oracle = await arpingOracle(topo.node, "eth0", target, { count: 2, timeoutS: 2 });
      const got = await collect(arp([target], { netns: ns, interface: "eth0", timeoutMs: 500 }));
      const r = got.get(target)!;
      t.equal(r.state === "reply", oracle.replied, `${target}: replied like arping`);
      t.same([...r.macs].sort(), [...oracle.macs].sort(), `${target}: same MACs as arping`);
    }
  });

  t.test("a /24 sweep finds exactly what arp-scan finds", async (t) => {
    const got = await collect(arp("198.51.100.0/24", { netns: ns, rate: 0, timeoutMs: 400, retries: 1 }));
    t.equal(got.size, 256);
    const replied = [...got.values()]
      .filter((r) => r.state === "reply")
      .map((r) => r.target)
      .sort();
    t.same(replied, ["198.51.100.1", "198.51.100.11", "198.51.100.50"]);
    const scan = await topo.node.exec("arp-scan", ["-I", "eth0", "-q", "-x", "--retry=2", "198.51.100.0/24"]);
    const oracle = [
      ...new Set(
        scan.stdout
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split("\t")[0]!),
      ),
    ].sort();
    t.same(replied, oracle, "same responders as arp-scan");
    t.equal(got.get("198.51.100.0")?.state, "no-reply");
    t.equal(got.get("198.51.100.255")?.state, "no-reply", "the broadcast address gets no reply");
  });

  t.test("with -i, a routed peer stays not-on-link unless --any-link", async (t) => {
    const pinned = await collect(arp(["203.0.113.20"], { netns: ns, interface: "eth0", timeoutMs: 300 }));
    t.match(pinned.get("203.0.113.20"), {
      state: "not-on-link",
      gateway: "198.51.100.1",
      interface: "eth0",
      sent: 0,
    });
    const forced = await collect(
      arp(["203.0.113.20"], { netns: ns, interface: "eth0", anyLink: true, timeoutMs: 300, retries: 0 }),
    );
    t.match(forced.get("203.0.113.20"), { state: "no-reply", sent: 1, source: "198.51.100.10" });
  });

  t.test("the requests on the wire are well-formed ARP", async (t) => {
    const cap = await startCapture(topo.node, "eth0", "arp");
    await collect(arp(["198.51.100.11", "198.51.100.99"], { netns: ns, timeoutMs: 200, retries: 1 }));
    const frames = await cap.stop();
    const requests = frames.filter(
      (f) =>
        f.data.readUInt16BE(20) === 1 &&
        f.data.subarray(6, 12).toString("hex") === topo.nodeMac.replaceAll(":", ""),
    );
    const byTarget = (ip: string) => requests.filter((f) => f.data.subarray(38, 42).join(".") === ip);
    t.equal(byTarget("198.51.100.11").length, 1, "one request to the peer that answered");
    t.equal(byTarget("198.51.100.99").length, 2, "two requests (1 retry) to the silent address");
    for (const f of requests) {
      const d = f.data;
      t.equal(d.subarray(0, 6).toString("hex"), "ffffffffffff", "broadcast destination");
      t.equal(d.readUInt16BE(12), 0x0806, "ethertype ARP");
      t.same([d.readUInt16BE(14), d.readUInt16BE(16), d[18], d[19]], [1, 0x0800, 6, 4], "Ethernet/IPv4 ARP");
      t.equal(
        d.subarray(22, 28).toString("hex"),
        topo.nodeMac.replaceAll(":", ""),
        "sender MAC is the interface's",
      );
      t.equal(d.subarray(28, 32).join("."), "198.51.100.10", "sender IP is the interface's address");
      t.equal(d.subarray(32, 38).toString("hex"), "000000000000", "target MAC unknown");
    }
    const replies = frames.filter((f) => f.data.readUInt16BE(20) === 2);
    t.ok(
      replies.some((f) => f.data.subarray(28, 32).join(".") === "198.51.100.11"),
      "the peer's reply is on the wire",
    );
  });

  t.test("an abort stops a sweep and closes its sockets", async (t) => {
    const fdsBefore = readdirSync("/proc/self/fd").length;
    const controller = new AbortController();
    const run = arp("198.51.100.0/24", { netns: ns, rate: 50, timeoutMs: 1000, signal: controller.signal });
    const started = Date.now();
    setTimeout(() => controller.abort(), 200);
    const got = await collect(run);
    t.ok(Date.now() - started < 1500, "ended soon after the abort");
    t.ok(got.size < 256, `only what was probed has a record (${got.size})`);
    t.equal(run.summary?.aborted, true, "summary says aborted");
    t.equal(readdirSync("/proc/self/fd").length, fdsBefore, "no fd leaked");
  });

  t.test("a run that fails in setup closes what it opened", async (t) => {
    const fdsBefore = readdirSync("/proc/self/fd").length;
    for (let i = 0; i < 20; i++) {
      await t.rejects(collect(arp(["198.51.100.11"], { netns: ns, interface: "eth9" })), { code: "ENODEV" });
    }
    t.equal(readdirSync("/proc/self/fd").length, fdsBefore, "no fd leaked");
  });

  t.test("the CLI: NDJSON, table, exit codes", async (t) => {
    const ok = await cli([
      "arp",
      "--netns",
      ns,
      "--json",
      "--timeout",
      "300",
      "198.51.100.11",
      "198.51.100.1",
    ]);
    t.equal(ok.code, 0, "every target replied: exit 0");
    const lines = ok.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    t.equal(lines.length, 3, "two records and a summary");
    t.match(lines.at(-1), { type: "summary", command: "arp", targets: 2 });
    t.match(
      lines.find((l) => l.target === "198.51.100.11"),
      { type: "arp", state: "reply", mac: topo.macs.peer },
    );

    const some = await cli([
      "arp",
      "--netns",
      ns,
      "--timeout",
      "200",
      "--retries",
      "0",
      "198.51.100.11",
      "198.51.100.99",
      "203.0.113.20",
    ]);
    t.equal(some.code, 1, "some did not reply: exit 1");
    t.match(some.stdout, /^TARGET\s+INTERFACE\s+STATE\s+MAC\s+RTT\s+NOTE$/m);
    t.match(some.stdout, /198\.51\.100\.11\s+eth0\s+reply\s+[0-9a-f:]{17}/);
    t.match(some.stdout, /203\.0\.113\.20\s+eth0\s+not-on-link.*via 198\.51\.100\.1/);
    t.match(some.stdout, /Network is unreachable/);
    t.match(some.stdout, /flannel host-gw/);
    t.match(some.stdout, /^arp: 3 target\(s\)/m);

    const usage = await cli(["arp", "--netns", ns, "198.51.100.300"]);
    t.equal(usage.code, 2, "bad target: exit 2");
    t.match(usage.stderr, /^wireprobe: invalid target "198\.51\.100\.300".*\n$/);
    t.notMatch(usage.stderr, /at .*\.js/, "no stack trace");
    const unknownIf = await cli(["arp", "--netns", ns, "-i", "eth9", "198.51.100.1"]);
    t.equal(unknownIf.code, 3, "unknown interface: exit 3");
    t.match(unknownIf.stderr, /unknown interface "eth9"/);
    const unknownNs = await cli(["arp", "--netns", `${lab.prefix}-nope`, "198.51.100.1"]);
    t.equal(unknownNs.code, 3, "unknown namespace: exit 3");
    t.match(unknownNs.stderr, /unknown network namespace/);
    const badOpt = await cli(["arp", "--timeout", "soon", "198.51.100.1"]);
    t.equal(badOpt.code, 2);
    t.match(badOpt.stderr, /--timeout needs a whole number/);
  });

  t.test("without privilege: a clear message and exit 3", async (t) => {
    const nobody = (prefix: string[], args: string[]) =>
      new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(
          prefix[0]!,
          [
            ...prefix.slice(1),
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            process.execPath,
            unprivilegedBin(),
            "arp",
            ...args,
          ],
          (err, _stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code) : 0, stderr }),
        );
      });
    const outside = await nobody(["env", "-u", "NODE_OPTIONS"], ["--netns", ns, "198.51.100.11"]);
    t.equal(outside.code, 3);
    t.match(outside.stderr, /entering the network namespace .* needs root \(CAP_SYS_ADMIN\)/);
    const inside = await nobody(["env", "-u", "NODE_OPTIONS", "ip", "netns", "exec", ns], ["198.51.100.11"]);
    t.equal(inside.code, 3);
    t.match(inside.stderr, /needs root or CAP_NET_RAW/);
  });

  t.test("library --help and --version", async (t) => {
    const v = await cli(["--version"]);
    t.equal(v.code, 0);
    t.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
    const h = await cli(["arp", "--help"]);
    t.equal(h.code, 0);
    t.match(h.stdout, /--any-link/);
  });
});
