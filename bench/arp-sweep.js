#!/usr/bin/env node
// ARP sweep benchmark: wireprobe vs arp-scan, same lab, same run, as a ratio.
//
//   sudo node bench/arp-sweep.js [--prefix 17] [--runs 7]
//
// Lab: a prober namespace and a responder namespace joined by a veth pair on 198.18.0.0/15. The responder
// owns 198.19.0.0/PREFIX as an AnyIP local route, so it answers ARP for every address of the range: the
// sweep must find all of them. Both tools run inside the prober namespace through `ip netns exec`, write
// their normal output to a pipe that this script reads, and are timed from spawn to exit (startup
// included). Peak RSS comes from /usr/bin/time when present. Runs alternate between the tools; medians
// are compared. A second part sweeps silent ranges of growing size to show that memory stays flat.
"use strict";
const { BIN, median, numberArg, timed } = require("./lib");
const { Lab } = require("../dist/lab");

const PREFIX = numberArg("prefix", 17);
const RUNS = numberArg("runs", 7);

async function main() {
  if (process.getuid?.() !== 0) throw new Error("run as root: the benchmark builds network namespaces");
  const lab = await Lab.create({ name: "barp" });
  try {
    const prober = await lab.host("prober");
    const responder = await lab.host("resp");
    await prober.link(
      responder,
      { ifname: "eth0", address: "198.18.0.1/15" },
      { ifname: "eth0", address: "198.18.0.2/15" },
    );
    const range = `198.19.0.0/${PREFIX}`;
    await responder.ip(["route", "add", "local", range, "dev", "lo", "table", "local"]);
    const expected = 2 ** (32 - PREFIX);

    const tools = {
      wireprobe: {
        cmd: process.execPath,
        args: [
          BIN,
          "arp",
          "-i",
          "eth0",
          "--rate",
          "0",
          "--retries",
          "2",
          "--timeout",
          "500",
          "--json",
          range,
        ],
        found: (out) => out.split("\n").filter((l) => l.includes('"state":"reply"')).length,
      },
      "arp-scan": {
        cmd: "arp-scan",
        args: ["-I", "eth0", "-B", "1000M", "--retry=2", range],
        found: (out) => out.split("\n").filter((l) => /^\d+\.\d+\.\d+\.\d+\t/.test(l)).length,
      },
    };
    const results = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const [name, tool] of Object.entries(tools)) {
        const r = await timed(prober.ns, tool.cmd, tool.args);
        const found = tool.found(r.stdout);
        if (found !== expected)
          console.error(`${name} run ${run}: found ${found} of ${expected} (exit ${r.code})`);
        results[name].push({ ms: r.ms, found, rssKb: r.rssKb });
      }
    }
    console.log("responder: the responder namespace's own kernel, one direct veth away (AnyIP local route)");
    console.log(`ARP sweep of ${range} (${expected} addresses, all answering), ${RUNS} runs each, medians:`);
    for (const [name, rs] of Object.entries(results)) {
      const ms = median(rs.map((r) => r.ms));
      console.log(
        `  ${name.padEnd(10)} ${ms.toFixed(0).padStart(6)} ms  ${Math.round((expected * 1000) / ms)
          .toLocaleString("en")
          .padStart(
            9,
          )} addresses/s  found ${Math.min(...rs.map((r) => r.found))}/${expected}  peak RSS ${median(rs.map((r) => r.rssKb))} KB`,
      );
    }
    const ratio = median(results["arp-scan"].map((r) => r.ms)) / median(results.wireprobe.map((r) => r.ms));
    console.log(
      `  ratio: wireprobe is ${ratio.toFixed(2)}x the speed of arp-scan -B 1000M --retry=2 (>1 = faster)`,
    );

    // Memory against range size: silent addresses (a second veth leg with nobody behind it).
    console.log(
      "\nPeak RSS against sweep size (198.18.0.0/N: silent but for the two lab hosts; --timeout 50 --retries 0 --rate 0 --json):",
    );
    for (const p of [22, 20, 18, 16]) {
      const r = await timed(prober.ns, process.execPath, [
        BIN,
        "arp",
        "-i",
        "eth0",
        "--rate",
        "0",
        "--retries",
        "0",
        "--timeout",
        "50",
        "--json",
        `198.18.0.0/${p}`,
      ]);
      const lines = r.stdout.split("\n").filter(Boolean).length - 1;
      console.log(
        `  /${p}: ${String(2 ** (32 - p)).padStart(7)} targets, ${lines} records, ${r.ms.toFixed(0)} ms, peak RSS ${r.rssKb} KB`,
      );
    }
  } finally {
    await lab.destroy();
  }
}

main().catch((err) => {
  console.error(`bench/arp-sweep: ${err.message}`);
  process.exitCode = 1;
});
