#!/usr/bin/env node
// All 65,535 ports of one host: wireprobe vs `nmap -T5 -p-`, same lab, same run, as a ratio; the open sets
// must be equal.
//
//   sudo node bench/scan-ports.js [--runs 5]
//
// Lab: prober and target joined by a veth pair (198.51.100.0/24). The target listens on a handful of ports
// (22, 80, 443, 8080, 30000, 32767, 65535) and drops 9100 (so one port stays unanswered, as on real
// hosts); every other port answers RST. Both tools run in the prober namespace, timed from spawn to exit,
// writing -oG to a file that this script reads.
//
//   wireprobe  wireprobe scan -p- --rate 0 198.51.100.2 -oG FILE   (defaults: --timeout 1000, 1 retry)
//   nmap       nmap -T5 -p- -Pn -n -sS 198.51.100.2 -oG FILE
// and defaults against defaults:
//   wireprobe  wireprobe scan -p- 198.51.100.2 -oG FILE
//   nmap       nmap -p- -Pn -n -sS 198.51.100.2 -oG FILE
// The responder is the target's own kernel (and its listeners), one direct veth away.
"use strict";
const { mkdtempSync, readFileSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");
const { Lab } = require("../dist/lab");
const { BIN, timed, median, requireRoot } = require("./scan-lib");

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf("--runs") + 1] ?? 5) || 5;
const TARGET = "198.51.100.2";
const OPEN = [22, 80, 443, 8080, 30000, 32767, 65535];

/** Ports per state from a grepable file: "open" -> [ports]; the ignored state as its count. */
function readGrepable(file) {
  const text = readFileSync(file, "utf8");
  const line = text.split("\n").find((l) => l.includes("\tPorts: ")) ?? "";
  const open = [...line.matchAll(/(\d+)\/open\//g)].map((m) => Number(m[1]));
  const filtered = [...line.matchAll(/(\d+)\/filtered\//g)].map((m) => Number(m[1]));
  const ignored = /Ignored State: (\w+) \((\d+)\)/.exec(line);
  return { open, filtered, ignored: ignored ? `${ignored[1]} (${ignored[2]})` : "-" };
}

async function main() {
  requireRoot();
  const dir = mkdtempSync(path.join(tmpdir(), "wp-bench-ports-"));
  const lab = await Lab.create({ name: "bports" });
  try {
    const prober = await lab.host("prober");
    const target = await lab.host("target");
    await prober.link(
      target,
      { ifname: "eth0", address: "198.51.100.1/24" },
      { ifname: "eth0", address: `${TARGET}/24` },
    );
    await target.nft(
      "table ip filter {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 9100 drop\n  }\n}\n",
    );
    const code = `import socket,time\nss=[]\nfor p in ${JSON.stringify(OPEN)}:\n  s=socket.socket()\n  s.bind(('0.0.0.0',p))\n  s.listen(64)\n  ss.append(s)\ntime.sleep(1e6)`;
    target.spawn("python3", ["-c", code], { stdio: "ignore" });
    for (
      let i = 0;
      (await target.exec("ss", ["-ltnH"])).stdout.trim().split("\n").length < OPEN.length;
      i++
    ) {
      if (i > 200) throw new Error("the listeners did not start");
      await new Promise((r) => setTimeout(r, 25));
    }
    const tools = {
      wireprobe: {
        cmd: process.execPath,
        args: (f) => [BIN, "scan", "-p-", "--rate", "0", TARGET, "-oG", f],
      },
      nmap: { cmd: "nmap", args: (f) => ["-T5", "-p-", "-Pn", "-n", "-sS", TARGET, "-oG", f] },
      "wireprobe (defaults)": {
        cmd: process.execPath,
        args: (f) => [BIN, "scan", "-p-", TARGET, "-oG", f],
      },
      "nmap (defaults)": { cmd: "nmap", args: (f) => ["-p-", "-Pn", "-n", "-sS", TARGET, "-oG", f] },
    };
    const results = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const [name, tool] of Object.entries(tools)) {
        const file = path.join(dir, `${name.replace(/\W+/g, "-")}-${run}.gnmap`);
        const r = await timed(prober.ns, tool.cmd, tool.args(file));
        if (r.code !== 0) console.error(`${name} run ${run}: exit ${r.code}: ${r.stderr.trim().slice(-500)}`);
        results[name].push({ ms: r.ms, rssKb: r.rssKb, ...readGrepable(file) });
      }
    }
    console.log("responder: the target's own kernel and listeners, one direct veth away");
    console.log(
      `All 65,535 TCP ports of one host (${OPEN.length} open, 1 dropped, the rest RST), ${RUNS} runs each, medians:`,
    );
    for (const [name, rs] of Object.entries(results)) {
      const last = rs[rs.length - 1];
      console.log(
        `  ${name.padEnd(20)} ${(median(rs.map((r) => r.ms)) / 1000).toFixed(2).padStart(6)} s  open ${last.open.join(",")}  filtered ${last.filtered.join(",") || "-"}  ignored ${last.ignored}  peak RSS ${median(rs.map((r) => r.rssKb))} KB`,
      );
    }
    const same = ["wireprobe", "wireprobe (defaults)"].every((n) =>
      results[n].every((w, i) => w.open.join() === results.nmap[i].open.join()),
    );
    const expected = ["wireprobe", "wireprobe (defaults)"].every((n) =>
      results[n].every((w) => w.open.join() === OPEN.join()),
    );
    console.log(
      `  same open set as nmap in every run: ${same ? "yes" : "NO"}; equal to the listeners: ${expected ? "yes" : "NO"}`,
    );
    const ms = (n) => median(results[n].map((r) => r.ms));
    console.log(
      `  ratio, best settings: nmap -T5 -p- takes ${(ms("nmap") / ms("wireprobe")).toFixed(2)}x as long as wireprobe --rate 0 (goal >= 1.5)`,
    );
    console.log(
      `  ratio, defaults: nmap -p- takes ${(ms("nmap (defaults)") / ms("wireprobe (defaults)")).toFixed(2)}x as long as wireprobe -p- (goal >= 1.0)`,
    );
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench/scan-ports: ${err.message}`);
  process.exitCode = 1;
});
