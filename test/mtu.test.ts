// `wireprobe mtu` in a lab, against iputils `ping -M do -s SIZE` and `tracepath` in the same namespace.
// Addresses from the lab ranges only; IPv4 and IPv6 on every path.
//
//   client 198.51.100.10 / 2001:db8:a::10 ── seg a ── r1 (.1) ─┬─ seg b, MTU 1400 on r1 and far: far .20
//     peer .11 on seg a (clean)                                 │   (r1 answers frag-needed / packet too big)
//                                                               └─ seg c 198.18.1.0/24, 2001:db8:c::/64 (1500):
//        deep .30     r1's nftables drop forwarded packets to it above 1300 bytes, silently (a black hole)
//        liar .31     r1's nftables reject packets to it above 1000 with frag-needed mtu 0 (a legacy router)
//        victim .32   clean, but its echo replies come from a forger, after errors not to believe
//        r2 .2 ── seg d 198.18.2.0/24, 2001:db8:d::/64, MTU 1350 on r2 and hidden .40, r2 sends no
//                 frag-needed / packet too big (its output firewall drops them): an MTU mismatch, black-holed
//   nobody at 198.51.100.77; no route beyond r1 to 198.18.9.0/24 (net unreachable)

import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import type { Host } from "../src/lab";
import { type MtuOptions, mtu } from "../src/probes/mtu/mtu";
import type { MtuRecord, SummaryRecord, VerdictRecord } from "../src/records";
import { runCli } from "./helpers/cli";
import { withLab } from "./helpers/lab";

interface PingDo {
  /** an echo reply came back */
  received: boolean;
  /** the MTU a frag-needed / packet-too-big said (iputils prints the router's), and who sent it */
  said: number | null;
  from: string | null;
  /** the kernel refused the send: its cached path MTU ("local error: message too long, mtu=N") */
  local: number | null;
}

/** iputils `ping [-6] -n -c1 -W1 -M do -s PAYLOAD target`: what became of one packet of that size. */
async function pingDo(host: Host, target: string, size: number): Promise<PingDo> {
  const v6 = target.includes(":");
  const payload = size - (v6 ? 48 : 28);
  const args = [...(v6 ? ["-6"] : []), "-n", "-c", "1", "-W", "1", "-M", "do", "-s", String(payload), target];
  const r = await host.exec("ping", args, { reject: false, timeoutMs: 10_000 });
  const text = `${r.stdout}\n${r.stderr}`;
  const frag =
    /From ([0-9a-f.:]+).*(?:Frag needed and DF set \(mtu = (\d+)\)|Packet too big: mtu=(\d+))/.exec(text);
  const local = /message too long, mtu[=:] ?(\d+)/.exec(text);
  return {
    received: /1 received/.test(text),
    said: frag ? Number(frag[2] ?? frag[3]) : null,
    from: frag ? frag[1]! : null,
    local: local ? Number(local[1]) : null,
  };
}

/** tracepath's path MTU ("Resume: pmtu N"), null when it printed none. */
async function tracepath(host: Host, target: string): Promise<number | null> {
  const r = await host.exec("tracepath", ["-n", "-m", "4", target], { reject: false, timeoutMs: 60_000 });
  const m = /pmtu (\d+)/.exec(r.stdout.split("\n").reverse().join("\n"));
  return m ? Number(m[1]) : null;
}

async function flushCache(host: Host): Promise<void> {
  await host.ip(["-4", "route", "flush", "cache"]);
  await host.ip(["-6", "route", "flush", "cache"]);
}

async function probe(targets: string[], options: MtuOptions) {
  const run = mtu(targets, options);
  const got = new Map<string, MtuRecord>();
  for await (const r of run) {
    if (got.has(r.target)) throw new Error(`two records for ${r.target}`);
    got.set(r.target, r);
  }
  return { got, summary: run.summary as SummaryRecord };
}

async function startForger(router: Host, args: string[]): Promise<ChildProcess> {
  const child = router.spawn(process.execPath, [
    ...process.execArgv,
    join(__dirname, "helpers", "mtu-forger.ts"),
    ...args,
  ]);
  let out = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (c: string) => {
    out += c;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`forger did not start: ${out}`)), 30_000);
    child.stdout?.on("data", (c: string) => {
      out += c;
      if (/ready/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`forger exited (${code}): ${out}`));
    });
  });
  return child;
}

t.test("path MTU in a lab: clean, frag-needed, black holes, hostile errors", async (t) => {
  const lab = await withLab(t, { name: "mtu", ipv6: true });
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const c = await lab.segment("c");
  const d = await lab.segment("d");
  const r1 = await lab.router("r1", [
    [a, ["198.51.100.1/24", "2001:db8:a::1/64"]],
    [b, ["203.0.113.1/24", "2001:db8:b::1/64"]],
    [c, ["198.18.1.1/24", "2001:db8:c::1/64"]],
  ]);
  const r2 = await lab.router("r2", [
    [c, ["198.18.1.2/24", "2001:db8:c::2/64"]],
    [d, ["198.18.2.2/24", "2001:db8:d::2/64"]],
  ]);
  for (const r of [r1, r2]) {
    await r.sysctl("net.ipv6.conf.all.forwarding", "1");
    await r.sysctl("net.ipv4.icmp_ratelimit", "0");
    await r.sysctl("net.ipv6.icmp.ratelimit", "0");
  }
  await r1.ip(["link", "set", "dev", "eth1", "mtu", "1400"]);
  await r2.ip(["link", "set", "dev", "eth1", "mtu", "1350"]);
  await r1.route(["198.18.2.0/24", "via", "198.18.1.2"]);
  await r1.route(["2001:db8:d::/64", "via", "2001:db8:c::2"]);
  await r2.route(["default", "via", "198.18.1.1"]);
  await r2.route(["::/0", "via", "2001:db8:c::1"]);
  const host = async (
    name: string,
    seg: typeof a,
    addresses: string[],
    gw4: string,
    gw6: string,
    mtu?: number,
  ) => {
    const h = await lab.host(name);
    await h.connect(seg, { address: addresses });
    if (mtu !== undefined) await h.ip(["link", "set", "dev", "eth0", "mtu", String(mtu)]);
    await h.route(["default", "via", gw4]);
    await h.route(["::/0", "via", gw6]);
    return h;
  };
  const client = await host(
    "client",
    a,
    ["198.51.100.10/24", "2001:db8:a::10/64"],
    "198.51.100.1",
    "2001:db8:a::1",
  );
  await host("peer", a, ["198.51.100.11/24", "2001:db8:a::11/64"], "198.51.100.1", "2001:db8:a::1");
  await host("far", b, ["203.0.113.20/24", "2001:db8:b::20/64"], "203.0.113.1", "2001:db8:b::1", 1400);
  await host(
    "deep",
    c,
    ["198.18.1.30/24", "198.18.1.31/24", "2001:db8:c::30/64"],
    "198.18.1.1",
    "2001:db8:c::1",
  );
  // The victim's echo replies come from the forger, after its forged errors.
  const victim = await host(
    "victim",
    c,
    ["198.18.1.32/24", "2001:db8:c::32/64"],
    "198.18.1.1",
    "2001:db8:c::1",
  );
  await victim.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
  await victim.sysctl("net.ipv6.icmp.echo_ignore_all", "1");
  await host("hidden", d, ["198.18.2.40/24", "2001:db8:d::40/64"], "198.18.2.2", "2001:db8:d::2", 1350);
  await r1.nft(`table inet wp {
  chain forward {
    type filter hook forward priority 0;
    ip daddr 198.18.1.30 ip length > 1300 drop
    ip6 daddr 2001:db8:c::30 ip6 length > 1260 drop
    ip daddr 198.18.1.31 ip length > 1000 reject with icmp frag-needed
  }
}
`);
  // r2's MTU errors never leave it: the hosts behind it are black-holed above 1350.
  await r2.nft(`table inet wp {
  chain output {
    type filter hook output priority 0;
    icmp type destination-unreachable icmp code frag-needed drop
    icmpv6 type packet-too-big drop
  }
}
`);
  const ns = client.ns;
  const base: MtuOptions = { netns: ns, timeoutMs: 500 };

  // target → [state, pathMtu, boundary, reportedMtu, reportedBy]
  type Case = [MtuRecord["state"], number | null, MtuRecord["boundary"], number | null, string | null];
  const cases: Record<string, Case> = {
    "198.51.100.11": ["ok", 1500, null, null, null],
    "2001:db8:a::11": ["ok", 1500, null, null, null],
    "203.0.113.20": ["reduced", 1400, "too-big", 1400, "198.51.100.1"],
    "2001:db8:b::20": ["reduced", 1400, "too-big", 1400, "2001:db8:a::1"],
    "198.18.1.30": ["black-hole", 1300, "silent", null, null],
    "2001:db8:c::30": ["black-hole", 1300, "silent", null, null],
    "198.18.2.40": ["black-hole", 1350, "silent", null, null],
    "2001:db8:d::40": ["black-hole", 1350, "silent", null, null],
    "198.18.1.31": ["reduced", 1000, "too-big", null, "198.51.100.1"],
  };

  t.test("each path as ping -M do and tracepath see it", async (t) => {
    const { got, summary } = await probe(Object.keys(cases), base);
    t.equal(got.size, Object.keys(cases).length, "one record per target");
    t.match(summary, { type: "summary", command: "mtu", targets: Object.keys(cases).length });
    for (const [target, [state, pathMtu, boundary, reportedMtu, reportedBy]] of Object.entries(cases)) {
      const r = got.get(target)!;
      t.match(
        r,
        {
          state,
          pathMtu,
          boundary,
          reportedMtu,
          reportedBy,
          interfaceMtu: 1500,
          interface: "eth0",
          ceiling: 1500,
        },
        `${target}: ${state} ${pathMtu}`,
      );
      t.equal(r.blackHole, state === "black-hole", `${target}: blackHole`);
      t.equal(r.ignoredErrors, 0, `${target}: nothing to ignore`);
      // The oracle, on a fresh kernel cache: the path MTU gets through, one byte more does not.
      await flushCache(client);
      const fits = await pingDo(client, target, pathMtu!);
      t.ok(fits.received, `${target}: ping -M do with ${pathMtu} bytes gets a reply`);
      if (pathMtu! < 1500) {
        const over = await pingDo(client, target, pathMtu! + 1);
        t.notOk(over.received, `${target}: ping -M do with ${pathMtu! + 1} bytes does not`);
        if (boundary === "too-big") {
          t.equal(over.from, reportedBy, `${target}: ping names the same router`);
          t.equal(over.said ?? null, reportedMtu ?? 0, `${target}: and the same MTU`);
        } else {
          t.equal(over.said, null, `${target}: ping gets no error either`);
        }
      }
      if (state === "ok" || (state === "reduced" && reportedMtu !== null)) {
        await flushCache(client);
        t.equal(await tracepath(client, target), pathMtu, `${target}: tracepath's pmtu`);
      }
    }
  });

  t.test("the kernel's cache neither stops nor fools the probes", async (t) => {
    // After ping -M do and tracepath, the client's kernel caches 1400 for far and 552 for liar (its frag-needed
    // said mtu 0): ping -M do now refuses locally what the path carries.
    await flushCache(client);
    await pingDo(client, "198.18.1.31", 1001);
    const refused = await pingDo(client, "198.18.1.31", 1000);
    t.equal(
      refused.local,
      552,
      "ping -M do: local error, mtu=552 (the kernel's cache after a frag-needed with mtu 0)",
    );
    t.equal(await tracepath(client, "198.18.1.31"), 552, "tracepath reports the cache's 552");
    const { got } = await probe(["198.18.1.31", "203.0.113.20"], base);
    t.match(
      got.get("198.18.1.31"),
      { pathMtu: 1000, kernelMtu: 552 },
      "wireprobe: 1000 gets through; the kernel holds 552",
    );
    t.match(got.get("203.0.113.20"), { pathMtu: 1400, kernelMtu: 1400 });
  });

  t.test("all at once, with local, unreachable and silent targets", async (t) => {
    const extra = ["198.51.100.10", "198.51.100.77", "198.18.9.9", "2001:db8:9::9"];
    // A router rate-limits its "no route" errors per source with a token bucket (1 s a token, a burst of 5)
    // that it shares with the ICMP errors it sent last: after tracepath's TTL-exceeded (icmp_ratelimit 0 empties
    // it) the next net unreachable within a second is not sent. Let it fill.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const { got, summary } = await probe([...Object.keys(cases), ...extra], { ...base, expectMtu: 1380 });
    for (const [target, [state, pathMtu]] of Object.entries(cases)) {
      const want = state === "black-hole" ? state : pathMtu! < 1380 ? "below-expected" : state;
      t.match(got.get(target), { state: want, pathMtu, expectedMtu: 1380 }, `${target}: ${want}`);
    }
    t.match(got.get("198.51.100.10"), { state: "local", pathMtu: null, probesSent: 0 });
    t.match(got.get("198.51.100.77"), { state: "no-reply", pathMtu: null });
    t.match(got.get("198.18.9.9"), { state: "unreachable", reason: "net-unreach", from: "198.51.100.1" });
    t.match(got.get("2001:db8:9::9"), { state: "unreachable", reason: "net-unreach", from: "2001:db8:a::1" });
    t.equal(summary.states["black-hole"], 4);
  });

  t.test("--max and --min bound the search; --max above the interface is cut to it", async (t) => {
    const { got } = await probe(["198.51.100.11", "198.18.1.30"], { ...base, max: 1280, min: 1200 });
    t.match(got.get("198.51.100.11"), { state: "ok", pathMtu: 1280, ceiling: 1280, interfaceMtu: 1500 });
    t.match(
      got.get("198.18.1.30"),
      { state: "ok", pathMtu: 1280 },
      "the black hole above 1300 is beyond --max",
    );
    const big = await probe(["198.51.100.11"], { ...base, max: 9000 });
    t.match(big.got.get("198.51.100.11"), { state: "ok", pathMtu: 1500, ceiling: 1500 });
  });

  t.test("forged and absurd errors are not believed, and do not crash the probe", async (t) => {
    const forger = await startForger(victim, [
      "eth0",
      "198.51.100.10",
      "198.18.1.32",
      "2001:db8:a::10",
      "2001:db8:c::32",
    ]);
    let forged = 0;
    forger.stdout?.on("data", (chunk: string) => {
      forged += chunk.split("\n").filter((l) => l.startsWith("forged")).length;
    });
    const { got } = await probe(["198.18.1.32", "2001:db8:c::32", "203.0.113.20"], base);
    t.ok(forged > 0, `the forger answered ${forged} requests`);
    t.match(got.get("198.18.1.32"), {
      state: "ok",
      pathMtu: 1500,
      blackHole: false,
      reportedMtu: null,
      icmpErrors: 0,
    });
    t.ok(
      got.get("198.18.1.32")!.ignoredErrors >= 5,
      `IPv4: ${got.get("198.18.1.32")!.ignoredErrors} errors not believed`,
    );
    t.match(got.get("2001:db8:c::32"), { state: "ok", pathMtu: 1500, reportedMtu: null, icmpErrors: 0 });
    t.ok(got.get("2001:db8:c::32")!.ignoredErrors >= 2, "IPv6: errors not believed");
    t.match(
      got.get("203.0.113.20"),
      { state: "reduced", pathMtu: 1400, reportedMtu: 1400 },
      "a real router still is",
    );
    forger.kill("SIGTERM");
  });

  t.test("check --expect-mtu: the mtu verdict, its evidence per node and the CNI MTU to set", async (t) => {
    const nodes = "node1=198.51.100.11,node2=203.0.113.20,node3=198.18.2.40";
    const r = await runCli(ns, [
      "check",
      "--nodes",
      nodes,
      "--dns",
      "198.51.100.11",
      "--timeout",
      "500",
      "--expect-mtu",
      "1400",
      "--overlay",
      "vxlan",
      "--json",
    ]);
    t.equal(r.code, 1, "a failed verdict: exit 1");
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    t.equal(lines.filter((l) => l.type === "mtu").length, 3, "an mtu record per node");
    const v = lines.find((l) => l.type === "verdict" && l.check === "mtu") as unknown as VerdictRecord;
    t.match(v, { ok: false, complete: true });
    t.match(v.detail, /Black hole: packets above 1350 bytes to node3 \(198\.18\.2\.40\) vanish without/);
    t.match(
      v.fix,
      /Lower the CNI MTU to 1300: the smallest path MTU, 1350 to node3 \(198\.18\.2\.40\), less 50 bytes of vxlan/,
    );
    t.match(
      v.evidence.find((e) => e.subject === "203.0.113.20"),
      { node: "node2", finding: /path MTU 1400 \(eth0 1500\): 198\.51\.100\.1 announces mtu 1400/ },
    );
    const healthy = await runCli(ns, [
      "check",
      "--nodes",
      "node1=198.51.100.11,node2=203.0.113.20",
      "--dns",
      "198.51.100.11",
      "--timeout",
      "500",
      "--mtu",
    ]);
    t.match(healthy.stdout, /ok\s+mtu\s+No black hole on the paths to the 2 probed address\(es\)/);
    t.match(healthy.stdout, /PATH MTU TO\s+STATE\s+MTU/);
  });

  t.test("the CLI: report, --json, --expect-mtu, exit codes", async (t) => {
    const report = await runCli(ns, [
      "mtu",
      "--timeout",
      "500",
      "198.51.100.11",
      "203.0.113.20",
      "198.18.1.30",
    ]);
    t.equal(report.code, 1, "a black hole: exit 1");
    t.equal(report.stderr, "");
    t.match(
      report.stdout,
      /198\.18\.1\.30\s+black-hole\s+1300\s+eth0 1500.*BLACK HOLE: 1301-1500 bytes vanish/,
    );
    t.match(report.stdout, /203\.0\.113\.20\s+reduced\s+1400.*198\.51\.100\.1 announced mtu 1400/);
    t.match(report.stdout, /^mtu: 3 target\(s\): /m);
    const fine = await runCli(ns, [
      "mtu",
      "--json",
      "--expect-mtu",
      "1400",
      "198.51.100.11",
      "2001:db8:b::20",
    ]);
    t.equal(fine.code, 0, "ok and reduced, at least the expected: exit 0");
    const lines = fine.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; state?: string });
    t.same(
      lines.map((l) => l.type),
      ["mtu", "mtu", "summary"],
    );
    const below = await runCli(ns, ["mtu", "--expect-mtu", "1450", "203.0.113.20"]);
    t.equal(below.code, 1, "below the expected MTU: exit 1");
    t.match(below.stdout, /below-expected/);
    const pinned = await runCli(ns, ["mtu", "-i", "eth0", "--json", "198.51.100.11"]);
    t.equal(pinned.code, 0, "-i eth0: exit 0");
    t.match(JSON.parse(pinned.stdout.split("\n")[0]!), { state: "ok", interface: "eth0", pathMtu: 1500 });
    const nosuch = await runCli(ns, ["mtu", "-i", "nosuch0", "198.51.100.11"]);
    t.equal(nosuch.code, 3, "an unknown interface: exit 3");
    t.match(nosuch.stderr, /unknown interface "nosuch0"/);
  });
});

t.test("bad input: one line, exit 2", async (t) => {
  const lab = await withLab(t, "mtubad");
  const h = await lab.host("h");
  const bad: Array<[string[], RegExp]> = [
    [["mtu"], /mtu needs at least one TARGET/],
    [["mtu", "300.1.1.1"], /invalid|bad|not/i],
    [["mtu", "--expect-mtu", "10", "198.51.100.1"], /--expect-mtu must be at least 68/],
    [["mtu", "--min", "1400", "--max", "1300", "198.51.100.1"], /min \(1400\) is larger than max \(1300\)/],
    [["mtu", "--max", "big", "198.51.100.1"], /--max needs a whole number/],
    [["mtu", "--retries", "11", "198.51.100.1"], /--retries must be at most 10/],
    [["mtu", "--bogus", "198.51.100.1"], /unknown option --bogus/],
    [["check", "--nodes", "198.51.100.1", "--overlay", "vxlan"], /--overlay needs --mtu or --expect-mtu/],
    [["check", "--nodes", "198.51.100.1", "--mtu", "--overlay", "flannel"], /unknown overlay "flannel"/],
    [["check", "--mtu"], /the path MTU check needs the nodes or --mtu-target/],
  ];
  for (const [args, message] of bad) {
    const r = await runCli(h.ns, args);
    t.equal(r.code, 2, `${args.join(" ")}: exit 2`);
    t.match(r.stderr, message, `${args.join(" ")}: says why`);
    t.equal(r.stderr.trim().split("\n").length, 1, "one line");
    t.notMatch(r.stderr, /\bat \w+ \(/, "no stack trace");
  }
});
