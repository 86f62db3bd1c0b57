#!/usr/bin/env node
// IPv6 SYN sweep of a /112 of one port where every address answers: wireprobe vs nmap -6, in the same lab,
// the same run, as a ratio.
//
//   sudo node bench/scan6-sweep.js [--runs 3] [--port 80]
//
// Lab: prober (2001:db8:1::10/64) and target (2001:db8:1::2/64) on one direct veth pair (addresses nodad).
// The prober routes 2001:db8:ffff::/112 via the target (one neighbour entry); the target owns the /112 as a
// local route on lo (AnyIP) with a listener on [::]:PORT, so all 65,536 addresses answer SYN-ACK from its
// kernel. Both tools run inside the prober namespace, are timed from spawn to exit (startup and output
// included) and write -oG to a file that this script counts. Runs alternate between the tools; medians
// are compared.
//
//   wireprobe  wireprobe scan -p PORT --rate 0 2001:db8:ffff::/112 -oG FILE   (defaults: --timeout 1000, 1 retry)
//   nmap       nmap -6 -T5 --min-rate 50000 -Pn -n -sS -p PORT 2001:db8:ffff::/112 -oG FILE
"use strict";
const { mkdtempSync, readFileSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");
const { Lab } = require("../dist/lab");
const { BIN, timed, median, requireRoot, fmt } = require("./scan-lib");

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt("runs", "3"));
const PORT = opt("port", "80");
const RANGE = "2001:db8:ffff::/112";
const EXPECTED = 65536;
const RESPONDER =
  "the target's own kernel, one direct veth away (no bridge, no router, no userspace responder): it owns 2001:db8:ffff::/112 as a local route (AnyIP), a listener on [::]:" +
  PORT;

const countPorts = (file) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.includes(`Ports: ${PORT}/open/`)).length;

async function sweepLab6() {
  const lab = await Lab.create({ name: "bsweep6", ipv6: true });
  try {
    const prober = await lab.host("prober");
    const target = await lab.host("target");
    await prober.link(
      target,
      { ifname: "eth0", address: "2001:db8:1::10/64" },
      { ifname: "eth0", address: "2001:db8:1::2/64" },
    );
    await prober.route([RANGE, "via", "2001:db8:1::2"]);
    await target.route(["local", RANGE, "dev", "lo"]);
    const code = `import socket,time\ns=socket.socket(socket.AF_INET6)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('::',${PORT}))\ns.listen(4096)\ntime.sleep(1e6)`;
    target.spawn("python3", ["-c", code], { stdio: "ignore" });
    for (let i = 0; (await target.exec("ss", ["-ltnH", `sport = :${PORT}`])).stdout.trim() === ""; i++) {
      if (i > 200) throw new Error("the listener did not start");
      await new Promise((r) => setTimeout(r, 25));
    }
    return { lab, prober };
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

async function main() {
  requireRoot();
  const dir = mkdtempSync(path.join(tmpdir(), "wp-bench-sweep6-"));
  const { lab, prober } = await sweepLab6();
  try {
    const tools = {
      wireprobe: {
        cmd: process.execPath,
        args: (f) => [BIN, "scan", "-p", PORT, "--rate", "0", RANGE, "-oG", f],
      },
      nmap: {
        cmd: "nmap",
        args: (f) => ["-6", "-T5", "--min-rate", "50000", "-Pn", "-n", "-sS", "-p", PORT, RANGE, "-oG", f],
      },
    };
    const results = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const [name, tool] of Object.entries(tools)) {
        const file = path.join(dir, `${name}-${run}.out`);
        const r = await timed(prober.ns, tool.cmd, tool.args(file));
        if (r.code !== 0) console.error(`${name} run ${run}: exit ${r.code}: ${r.stderr.trim().slice(-500)}`);
        let found = 0;
        try {
          found = countPorts(file);
        } catch (err) {
          console.error(`${name} run ${run}: no result: ${err.message}`);
        }
        if (found < EXPECTED)
          console.error(
            `${name} run ${run}: found ${found}/${EXPECTED}; stdout tail: ${r.stdout.trim().slice(-300)}`,
          );
        results[name].push({ ms: r.ms, found, rssKb: r.rssKb });
      }
    }
    console.log(`responder: ${RESPONDER}`);
    console.log(
      `IPv6 TCP SYN sweep of ${RANGE} port ${PORT} (${fmt(EXPECTED)} addresses, all answering with SYN-ACK), ${RUNS} runs each, medians:`,
    );
    const ms = (name) => median(results[name].map((r) => r.ms));
    for (const [name, rs] of Object.entries(results)) {
      console.log(
        `  ${name.padEnd(10)} ${(ms(name) / 1000).toFixed(2).padStart(6)} s  found ${String(Math.min(...rs.map((r) => r.found))).padStart(5)}/${EXPECTED}` +
          `  (runs: ${rs.map((r) => (r.ms / 1000).toFixed(2)).join(", ")} s)  peak RSS ${fmt(median(rs.map((r) => r.rssKb)))} KB`,
      );
    }
    console.log(
      `  ratio (nmap -6 -T5 --min-rate 50000 time / wireprobe time; >1 = wireprobe faster): ${(ms("nmap") / ms("wireprobe")).toFixed(2)}x (goal >= 5, all found)`,
    );
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench/scan6-sweep: ${err.message}`);
  process.exitCode = 1;
});
