#!/usr/bin/env node
// `wireprobe routes` on large routing tables: how its time grows with the routes when the gateways stay few.
//
//   sudo node bench/routes-table.js [--runs 5]
//
// Lab: a node and three peers on one segment (198.51.100.0/24), every peer answering. The node gets N host-gw
// style routes (/32s of 198.18.0.0/15) via the three peers, in turn, N = 1,000, 10,000 and 50,000. Each size is
// timed from spawn to exit (startup included) of `wireprobe routes --json`, next to `ip -j route show table all`
// in the same namespace (the listing alone, what any check of the routes costs at least). Since each gateway
// is asked once, the ARP requests stay at 3 whatever N; the time above the listing is reading, judging and
// writing N records.
"use strict";
const { BIN, median, numberArg, timed } = require("./lib");
const { Lab } = require("../dist/lab");

const RUNS = numberArg("runs", 5);
const SIZES = [1_000, 10_000, 50_000];
const GATEWAYS = ["198.51.100.12", "198.51.100.13", "198.51.100.14"];

async function main() {
  if (process.getuid?.() !== 0) throw new Error("run as root: the benchmark builds network namespaces");
  const lab = await Lab.create({ name: "brtab" });
  try {
    const seg = await lab.segment("nodes");
    const node = await lab.host("node");
    await node.connect(seg, { address: "198.51.100.11/24" });
    for (const [i, gw] of GATEWAYS.entries()) {
      const peer = await lab.host(`peer${i}`);
      await peer.connect(seg, { address: `${gw}/24` });
    }
    let installed = 0;
    console.log(
      `wireprobe routes --json: routes via ${GATEWAYS.length} answering gateways, ${RUNS} runs each, medians`,
    );
    for (const n of SIZES) {
      const lines = [];
      for (let i = installed; i < n; i++) {
        const a = 0xc6120000 + i;
        const dst = [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join(".");
        lines.push(`route add ${dst}/32 via ${GATEWAYS[i % GATEWAYS.length]}`);
      }
      await node.ip(["-batch", "-"], { input: `${lines.join("\n")}\n` });
      installed = n;
      const probe = [];
      const listing = [];
      for (let run = 0; run < RUNS; run++) {
        const r = await timed(node.ns, process.execPath, [BIN, "routes", "--json", "--timeout", "500"]);
        const out = r.stdout.trim().split("\n");
        const summary = JSON.parse(out[out.length - 1]);
        if (r.code !== 0 || summary.targets !== n + 0)
          console.error(`run ${run}: exit ${r.code}, ${summary.targets} records for ${n} routes`);
        probe.push({ ms: r.ms, cpuMs: r.cpuMs, rssKb: r.rssKb, sent: summary.packetsSent });
        listing.push((await timed(node.ns, "ip", ["-j", "route", "show", "table", "all"])).ms);
      }
      const ms = median(probe.map((p) => p.ms));
      console.log(
        `  ${n.toLocaleString("en").padStart(6)} routes: ${ms.toFixed(0).padStart(5)} ms (CPU ${median(probe.map((p) => p.cpuMs)).toFixed(0)} ms, peak RSS ${median(probe.map((p) => p.rssKb))} KB), ${Math.max(...probe.map((p) => p.sent))} ARP requests; ip -j route show table all: ${median(listing).toFixed(0)} ms`,
      );
    }
  } finally {
    await lab.destroy();
  }
}

main().catch((err) => {
  console.error(`bench/routes-table: ${err.message}`);
  process.exitCode = 1;
});
