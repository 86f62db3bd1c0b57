#!/usr/bin/env node
// Peak RSS against scan size: a /16 times 10, 100 and 1000 ports (655,360 to 65,536,000 probes), every
// probe answered (RST), every record written as NDJSON (to a pipe that keeps only the summary). Memory must
// stay flat: the engine keeps one bit per probe and a few typed arrays per target, never an object per probe.
//
//   sudo node bench/scan-memory.js [--ports 10,100,1000]
//
// The 1000-port run sends 65.5 million probes: at the lab's ~100k probes/s it takes about 11 minutes.
"use strict";
const { BIN, timed, sweepLab, requireRoot, fmt } = require("./scan-lib");

const args = process.argv.slice(2);
const i = args.indexOf("--ports");
const SIZES = (i >= 0 ? args[i + 1] : "10,100,1000").split(",").map(Number);
const RANGE = "198.18.0.0/16";

async function main() {
  requireRoot();
  const { lab, prober } = await sweepLab("bmem", RANGE);
  try {
    console.log(`Peak RSS of wireprobe scan --rate 0 --json ${RANGE} -p 1-N (every probe answered):`);
    for (const n of SIZES) {
      // sh waits for the scan and for tail: /usr/bin/time's peak RSS is the largest of them, the scan's
      const r = await timed(
        prober.ns,
        "sh",
        [
          "-c",
          'exec "$0" "$@" | tail -n 1',
          process.execPath,
          BIN,
          "scan",
          "--rate",
          "0",
          "--json",
          "-p",
          `1-${n}`,
          RANGE,
        ],
        { timeoutMs: 3_600_000 },
      );
      let summary = {};
      try {
        summary = JSON.parse(r.stdout.trim().split("\n").pop());
      } catch {
        console.error(`-p 1-${n}: no summary (exit ${r.code}): ${r.stderr.trim().slice(-300)}`);
      }
      const probes = 65536 * n;
      console.log(
        `  ${String(n).padStart(4)} ports: ${fmt(probes).padStart(10)} probes, ${fmt(summary.packetsReceived ?? 0).padStart(10)} answers, ` +
          `${(r.ms / 1000).toFixed(1).padStart(6)} s, ${fmt((probes * 1000) / r.ms).padStart(7)} probes/s, peak RSS ${fmt(r.rssKb)} KB`,
      );
    }
  } finally {
    await lab.destroy();
  }
}

main().catch((err) => {
  console.error(`bench/scan-memory: ${err.message}`);
  process.exitCode = 1;
});
