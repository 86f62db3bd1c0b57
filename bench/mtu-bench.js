#!/usr/bin/env node
// Path MTU benchmark: wireprobe mtu vs tracepath, same lab, same targets, same run.
//
//   npm run build   (or: npx tsc -p tsconfig.json)
//   sudo node bench/mtu-bench.js [--targets 64] [--runs 3]
//
// Lab: a client, a router and TARGETS addresses behind it: half on a segment whose MTU is 1400 (the router
// answers frag-needed for bigger packets), half on a clean 1500 segment. tracepath finds a path MTU one target
// at a time (as an operator's loop runs it: `for t in ...; do tracepath -n -m 3 $t; done`); wireprobe mtu
// searches every target at once. Both run inside the client namespace through `ip netns exec`, timed from
// spawn to exit (startup included), each after the client's path MTU cache was flushed (tracepath starts from
// what the kernel cached), and must find the same path MTU for every target. Black holes are left out:
// tracepath cannot see them (it waits for replies that never come, and reports the MTU a router announced).
// Runs alternate between the tools; the medians are printed, and the ratio.
"use strict";
const { BIN, fmt, median, numberArg, timed } = require("./lib");
const { Lab } = require("../dist/lab");

const TARGETS = numberArg("targets", 64);
const RUNS = numberArg("runs", 3);

async function main() {
  const lab = await Lab.create({ name: "mtubench" });
  try {
    const a = await lab.segment("a");
    const b = await lab.segment("b");
    const c = await lab.segment("c");
    const r = await lab.router("r", [
      [a, "198.51.100.1/24"],
      [b, "203.0.113.1/24"],
      [c, "198.18.0.1/16"],
    ]);
    await r.ip(["link", "set", "dev", "eth1", "mtu", "1400"]);
    await r.sysctl("net.ipv4.icmp_ratelimit", "0");
    const client = await lab.host("client");
    await client.connect(a, { address: "198.51.100.10/24" });
    await client.route(["default", "via", "198.51.100.1"]);
    const narrow = await lab.host("narrow");
    await narrow.connect(b, {});
    await narrow.ip(["link", "set", "dev", "eth0", "mtu", "1400"]);
    const wide = await lab.host("wide");
    await wide.connect(c, {});
    const expected = new Map();
    for (let i = 0; i < TARGETS; i++) {
      const half = i % 2 === 0;
      const address = half ? `203.0.113.${10 + (i >> 1)}` : `198.18.1.${10 + (i >> 1)}`;
      await (half ? narrow : wide).addAddress("eth0", `${address}/${half ? 24 : 16}`);
      expected.set(address, half ? 1400 : 1500);
    }
    await narrow.route(["default", "via", "203.0.113.1"]);
    await wide.route(["default", "via", "198.18.0.1"]);
    const targets = [...expected.keys()];
    const flush = () => client.ip(["route", "flush", "cache"]);
    const loop = `for t in ${targets.join(" ")}; do echo "TARGET $t"; tracepath -n -m 3 $t; done`;
    const times = { wireprobe: [], tracepath: [] };
    for (let run = 0; run < RUNS; run++) {
      await flush();
      const w = await timed(client.ns, process.execPath, [BIN, "mtu", "--json", ...targets]);
      const found = new Map(
        w.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
          .filter((x) => x.type === "mtu")
          .map((x) => [x.target, x.pathMtu]),
      );
      check("wireprobe", found, expected);
      times.wireprobe.push(w.ms);
      await flush();
      const tp = await timed(client.ns, "sh", ["-c", loop]);
      const pmtu = new Map();
      for (const block of tp.stdout.split("TARGET ").slice(1)) {
        const m = /pmtu (\d+)/.exec(block.split("\n").reverse().join("\n"));
        pmtu.set(block.split("\n")[0].trim(), m ? Number(m[1]) : null);
      }
      check("tracepath", pmtu, expected);
      times.tracepath.push(tp.ms);
    }
    const wp = median(times.wireprobe);
    const tp = median(times.tracepath);
    console.log(
      `path MTU of ${TARGETS} targets (half 1400 with frag-needed, half 1500), median of ${RUNS} runs:`,
    );
    console.log(`  wireprobe mtu  ${fmt(wp)} ms`);
    console.log(`  tracepath      ${fmt(tp)} ms  (one target after the other)`);
    console.log(`  ratio          ${(tp / wp).toFixed(1)}x`);
  } finally {
    await lab.destroy();
  }
}

function check(tool, found, expected) {
  for (const [target, mtu] of expected) {
    if (found.get(target) !== mtu)
      throw new Error(`${tool}: ${target} has path MTU ${found.get(target)}, not ${mtu}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
