#!/usr/bin/env node
// /16 sweep of one port where every address answers: wireprobe vs nmap vs zmap vs a Node peer (raw-socket +
// cap), in the same lab, the same run, as ratios.
//
//   sudo node bench/scan-sweep.js [--runs 3] [--answer syn-ack|rst] [--port 80]
//
// Lab (bench/scan-lib.js): prober and target on one direct veth pair; the target owns 198.18.0.0/16 as an AnyIP
// local route, so all 65,536 addresses answer from its kernel: with SYN-ACK (default: a listener on 0.0.0.0), or
// with RST (--answer rst: nothing listens; zmap 2.1 does not count RSTs, so it finds nothing then). Every tool runs inside the prober namespace, is timed
// from spawn to exit (startup and output included) and writes its results to a file that this script
// counts. Runs alternate between the tools; medians are compared.
//
//   wireprobe  wireprobe scan -p PORT --rate 0 198.18.0.0/16 -oG FILE   (defaults: --timeout 1000, 1 retry)
//   nmap       nmap -T5 --min-rate 50000 -Pn -n -sS -p PORT 198.18.0.0/16 -oG FILE
//   zmap       zmap -p PORT -i eth0 -G GATEWAY_MAC -r 10000000 -c 1 (1 s cooldown, like --timeout 1000)
//   node peer  bench/peers/node-raw-syn-sweep.js (one SYN per address, 1 s wait for late answers)
//
// Then /16 x 10 ports (655,360 probes) by wireprobe alone, for its sustained probe rate, and defaults against
// defaults on a /20 (wireprobe scan -p PORT vs nmap -Pn -n -sS -p PORT: no timing options on either side).
"use strict";
const { mkdtempSync, readFileSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");
const {
  BIN,
  RESPONDER,
  timed,
  median,
  sweepLab,
  ensurePeerModules,
  requireRoot,
  fmt,
} = require("./scan-lib");

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt("runs", "3"));
const ANSWER = opt("answer", "syn-ack");
const PORT = opt("port", "80");
const RANGE = "198.18.0.0/16";
const EXPECTED = 65536;
const PEER = path.join(__dirname, "peers", "node-raw-syn-sweep.js");

const countPorts = (file) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.includes(`Ports: ${PORT}/`)).length;

async function main() {
  requireRoot();
  ensurePeerModules();
  const dir = mkdtempSync(path.join(tmpdir(), "wp-bench-sweep-"));
  const { lab, prober, gatewayMac } = await sweepLab(
    "bsweep",
    RANGE,
    ANSWER === "syn-ack" ? { listenPort: Number(PORT) } : {},
  );
  try {
    const tools = {
      wireprobe: {
        cmd: process.execPath,
        args: (f) => [BIN, "scan", "-p", PORT, "--rate", "0", RANGE, "-oG", f],
        found: countPorts,
        rate: (r) => {
          const m = /(\d+) probes sent.* in ([\d.]+) s/.exec(r.stdout);
          return m ? Number(m[1]) / Number(m[2]) : Number.NaN;
        },
      },
      nmap: {
        cmd: "nmap",
        args: (f) => ["-T5", "--min-rate", "50000", "-Pn", "-n", "-sS", "-p", PORT, RANGE, "-oG", f],
        found: countPorts,
        rate: () => Number.NaN,
      },
      zmap: {
        cmd: "zmap",
        args: (f) => [
          "-p",
          PORT,
          "-i",
          "eth0",
          "-G",
          gatewayMac,
          "-r",
          "10000000",
          "-c",
          "1",
          "-b",
          "/dev/null",
          "--disable-syslog",
          "-f",
          "saddr,classification",
          "--output-filter",
          "repeat = 0",
          "-o",
          f,
          RANGE,
        ],
        found: (f) =>
          readFileSync(f, "utf8")
            .split("\n")
            .filter((l) => /^\d+\.\d+\.\d+\.\d+,/.test(l)).length,
        rate: (r) => {
          const m = /send: \d+ done \(([\d.]+) ([KM]?)p\/s avg\)/.exec(r.stderr);
          return m ? Number(m[1]) * (m[2] === "M" ? 1e6 : m[2] === "K" ? 1e3 : 1) : Number.NaN;
        },
      },
      "node peer": {
        cmd: process.execPath,
        args: () => [PEER, "--interface", "eth0", "--cidr", RANGE, "--port", PORT, "--wait", "1000"],
        found: (_f, r) => JSON.parse(r.stdout.trim().split("\n").pop()).found,
        rate: (r) => {
          const o = JSON.parse(r.stdout.trim().split("\n").pop());
          return (o.sent * 1000) / Math.max(1, o.ms - 1000);
        },
      },
    };
    const results = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const [name, tool] of Object.entries(tools)) {
        const file = path.join(dir, `${name.replace(" ", "-")}-${run}.out`);
        const r = await timed(prober.ns, tool.cmd, tool.args(file));
        if (r.code !== 0) console.error(`${name} run ${run}: exit ${r.code}: ${r.stderr.trim().slice(-500)}`);
        let found = 0;
        try {
          found = tool.found(file, r);
        } catch (err) {
          console.error(`${name} run ${run}: no result: ${err.message}`);
        }
        results[name].push({ ms: r.ms, found, rssKb: r.rssKb, rate: tool.rate(r) });
      }
    }
    console.log(`responder: ${RESPONDER}`);
    console.log(
      `TCP SYN sweep of ${RANGE} port ${PORT} (${fmt(EXPECTED)} addresses, all answering with ${ANSWER === "syn-ack" ? "SYN-ACK" : "RST"}), ${RUNS} runs each, medians:`,
    );
    const ms = (name) => median(results[name].map((r) => r.ms));
    for (const [name, rs] of Object.entries(results)) {
      const rate = median(rs.map((r) => r.rate));
      console.log(
        `  ${name.padEnd(10)} ${(ms(name) / 1000).toFixed(2).padStart(6)} s  found ${String(Math.min(...rs.map((r) => r.found))).padStart(5)}/${EXPECTED}` +
          `  ${Number.isNaN(rate) ? "         -" : `${fmt(rate).padStart(10)}`} probes/s sent  peak RSS ${fmt(median(rs.map((r) => r.rssKb)))} KB`,
      );
    }
    const w = ms("wireprobe");
    console.log(`  ratios (time of the other / time of wireprobe; >1 = wireprobe faster):`);
    console.log(`    vs nmap -T5 --min-rate 50000: ${(ms("nmap") / w).toFixed(2)}x (goal >= 6)`);
    console.log(`    vs the Node peer (raw-socket + cap): ${(ms("node peer") / w).toFixed(2)}x (goal >= 2)`);
    console.log(`    vs zmap (-c 1): ${(ms("zmap") / w).toFixed(2)}x (goal >= 1)`);

    // Sustained rate: ten ports per address, 655,360 probes, every one answered.
    const tenPorts = `${PORT},81-89`;
    const sustained = [];
    for (let run = 0; run < RUNS; run++) {
      const file = path.join(dir, `ten-${run}.out`);
      const r = await timed(prober.ns, process.execPath, [
        BIN,
        "scan",
        "-p",
        tenPorts,
        "--rate",
        "0",
        RANGE,
        "-oG",
        file,
      ]);
      if (r.code !== 0)
        console.error(`wireprobe /16 x 10 run ${run}: exit ${r.code}: ${r.stderr.trim().slice(-300)}`);
      sustained.push(r.ms);
    }
    const tenMs = median(sustained);
    console.log(
      `${RANGE} x 10 ports (${fmt(EXPECTED * 10)} probes), wireprobe --rate 0: ${(tenMs / 1000).toFixed(2)} s, ${fmt((EXPECTED * 10 * 1000) / tenMs)} probes/s end to end (goal >= 250,000)`,
    );

    // Defaults against defaults, on a /20 (nmap's default timing takes minutes on a /16).
    const small = "198.18.0.0/20";
    const defaults = { wireprobe: [], nmap: [] };
    const found = { wireprobe: [], nmap: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const name of ["wireprobe", "nmap"]) {
        const file = path.join(dir, `default-${name}-${run}.out`);
        const args =
          name === "wireprobe"
            ? [BIN, "scan", "-p", PORT, small, "-oG", file]
            : ["-Pn", "-n", "-sS", "-p", PORT, small, "-oG", file];
        const r = await timed(prober.ns, name === "wireprobe" ? process.execPath : "nmap", args);
        if (r.code !== 0)
          console.error(`${name} defaults run ${run}: exit ${r.code}: ${r.stderr.trim().slice(-300)}`);
        defaults[name].push(r.ms);
        found[name].push(countPorts(file));
      }
    }
    const dw = median(defaults.wireprobe);
    const dn = median(defaults.nmap);
    console.log(
      `defaults vs defaults, ${small} port ${PORT} (4,096 addresses): wireprobe ${(dw / 1000).toFixed(2)} s (found ${Math.min(...found.wireprobe)}), nmap ${(dn / 1000).toFixed(2)} s (found ${Math.min(...found.nmap)}): ${(dn / dw).toFixed(2)}x`,
    );
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench/scan-sweep: ${err.message}`);
  process.exitCode = 1;
});
