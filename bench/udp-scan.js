#!/usr/bin/env node
// UDP scan of one host: wireprobe -sU vs nmap -sU -T4, same lab, same run, as ratios; the state of every
// port must be the same.
//
//   sudo node bench/udp-scan.js [--runs 1]
//
// Lab: prober (198.51.100.10) and target (198.51.100.2) on one direct veth pair. The target runs UDP
// listeners: a python3 echo on ports 7 and 99 and dnsmasq on 53 (answers nmap's and wireprobe's DNS
// payload); every other port answers ICMP port unreachable from the target's kernel.
//   1. ports 1-1000 with the ICMP rate limit off in the target's namespace only (net.ipv4.icmp_ratelimit=0,
//      net.ipv4.icmp_msgs_per_sec=1000000, net.ipv4.icmp_msgs_burst=1000000; net.ipv6.icmp.ratelimit=0).
//   2. ports 1-100 with the kernel's default ICMP rate limit (the namespace's own defaults restored:
//      about one port unreachable a second after a small burst); before each run the script waits 7 s so the
//      target's per-peer ICMP token bucket is full (the first run would otherwise start with it empty).
// Both tools run inside the prober namespace, are timed from spawn to exit and write -oG to a file that
// this script reads (nmap: -oX, see readXmlStates). Runs alternate between the tools; medians are compared.
//
//   wireprobe  wireprobe scan -sU -p PORTS 198.51.100.2 -oG FILE   (defaults)
//   nmap       nmap -sU -T4 -Pn -n -p PORTS 198.51.100.2 -oX FILE
//   and, under the rate limit, also nmap with its defaults (-T3): -T4 gives up on a rate-limited host sooner
//   (--max-retries 6) and reports the closed ports it did not wait for as open|filtered, -T3 waits for them.
// Besides wireprobe vs nmap, each tool is checked against the truth (7, 53, 99 open; every other port closed).
"use strict";
const { mkdtempSync, readFileSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");
const { Lab } = require("../dist/lab");
const { BIN, timed, median, requireRoot } = require("./scan-lib");

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf("--runs") + 1] ?? 1) || 1;
const TARGET = "198.51.100.2";
const ECHO = [7, 99];
const RESPONDER =
  "the target's own kernel (ICMP port unreachable), one direct veth away, plus python3 UDP echo on 7 and 99 and dnsmasq on 53";
// The per-peer bucket holds 6 tokens (XRLIM_BURST_FACTOR) of icmp_ratelimit ms each: 6 s fills it.
const SETTLE_MS = 7000;
const LIMIT_KEYS = [
  "net.ipv4.icmp_ratelimit",
  "net.ipv4.icmp_msgs_per_sec",
  "net.ipv4.icmp_msgs_burst",
  "net.ipv6.icmp.ratelimit",
];

/** The state of every port in [1, last] from a grepable file (listed ports, the rest in the ignored state). */
function readStates(file, last) {
  const line =
    readFileSync(file, "utf8")
      .split("\n")
      .find((l) => l.includes("\tPorts: ")) ?? "";
  const ignored = /Ignored State: ([\w|]+)/.exec(line)?.[1] ?? "?";
  const states = new Map();
  for (let p = 1; p <= last; p++) states.set(p, ignored);
  for (const m of line.matchAll(/(\d+)\/([\w|]+)\/udp\//g)) states.set(Number(m[1]), m[2]);
  return states;
}

/**
 * The same from nmap's XML: nmap's grepable output drops "Ignored State" when two states are left out
 * (closed and open|filtered under an ICMP rate limit), the XML lists them per reason with their ports.
 */
function readXmlStates(file, last) {
  const xml = readFileSync(file, "utf8");
  const states = new Map();
  for (let p = 1; p <= last; p++) states.set(p, "?");
  for (const m of xml.matchAll(/<port protocol="udp" portid="(\d+)"><state state="([^"]+)"/g))
    states.set(Number(m[1]), m[2]);
  for (const m of xml.matchAll(/<extraports state="([^"]+)"[^>]*>([\s\S]*?)<\/extraports>/g))
    for (const r of m[2].matchAll(/ports="([^"]+)"/g))
      for (const part of r[1].split(",")) {
        const [a, b = a] = part.split("-").map(Number);
        for (let p = a; p <= b; p++) states.set(p, m[1]);
      }
  return states;
}

const summary = (states) => {
  const counts = {};
  const named = [];
  for (const [p, s] of states) {
    counts[s] = (counts[s] ?? 0) + 1;
    if (s !== "closed") named.push(`${p}/${s}`);
  }
  return `${Object.entries(counts)
    .map(([s, n]) => `${n} ${s}`)
    .join(", ")}; not closed: ${named.join(" ") || "-"}`;
};

const differences = (a, b) =>
  [...a].filter(([p, s]) => b.get(p) !== s).map(([p, s]) => `${p}: ${s} vs ${b.get(p)}`);

/** The tools of one comparison: wireprobe with its defaults, and nmap with each of `nmapTimings`. */
function toolsFor(ports, nmapTimings) {
  const tools = {
    wireprobe: {
      cmd: process.execPath,
      args: (f) => [BIN, "scan", "-sU", "-p", ports, TARGET, "-oG", f],
      read: readStates,
    },
  };
  for (const timing of nmapTimings) {
    tools[`nmap ${timing || "(defaults)"}`] = {
      cmd: "nmap",
      args: (f) => ["-sU", ...(timing ? [timing] : []), "-Pn", "-n", "-p", ports, TARGET, "-oX", f],
      read: readXmlStates,
    };
  }
  return tools;
}

async function compare(prober, dir, label, last, goal, nmapTimings, settleMs = 0) {
  const ports = `1-${last}`;
  const tools = toolsFor(ports, nmapTimings);
  const names = Object.keys(tools);
  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (let run = 0; run < RUNS; run++) {
    for (const [name, tool] of Object.entries(tools)) {
      const file = path.join(dir, `${label.slice(0, 12)}-${name.replace(/\W+/g, "_")}-${run}.out`);
      // Lets the target's per-peer ICMP token bucket refill to its full burst, so each tool starts alike.
      if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
      const r = await timed(prober.ns, tool.cmd, tool.args(file));
      if (r.code !== 0)
        console.error(`${name} ${label} run ${run}: exit ${r.code}: ${r.stderr.trim().slice(-500)}`);
      let states = new Map();
      try {
        states = tool.read(file, last);
      } catch (err) {
        console.error(`${name} ${label} run ${run}: no result: ${err.message}`);
      }
      results[name].push({ ms: r.ms, states, out: r.stdout.trim().split("\n").pop() });
    }
  }
  const ms = (name) => median(results[name].map((r) => r.ms));
  const truth = new Map();
  for (let p = 1; p <= last; p++) truth.set(p, [...ECHO, 53].includes(p) ? "open" : "closed");
  console.log(`UDP scan of ${TARGET} ports ${ports}, ${label}, ${RUNS} run(s) each, medians:`);
  for (const name of names) {
    const rs = results[name];
    console.log(
      `  ${name.padEnd(16)} ${(ms(name) / 1000).toFixed(2).padStart(7)} s  (runs: ${rs.map((r) => (r.ms / 1000).toFixed(2)).join(", ")} s)  ${summary(rs[rs.length - 1].states)}`,
    );
    console.log(
      `  ${"".padEnd(16)} vs the truth (${ECHO.join(", ")}, 53 open, the rest closed): ports wrong per run: ${rs.map((r) => differences(truth, r.states).length).join(", ")}`,
    );
  }
  for (const name of names.slice(1)) {
    let same = true;
    for (let run = 0; run < RUNS; run++) {
      const diff = differences(results.wireprobe[run].states, results[name][run].states);
      if (diff.length > 0) {
        same = false;
        console.log(
          `  run ${run}: ${diff.length} port(s) differ (wireprobe vs ${name}): ${diff.slice(0, 12).join(", ")}${diff.length > 12 ? ", ..." : ""}`,
        );
      }
    }
    console.log(`  wireprobe and ${name}: same state on every port in every run: ${same ? "yes" : "NO"}`);
    console.log(
      `  ratio (${name} time / wireprobe time; >1 = wireprobe faster): ${(ms(name) / ms("wireprobe")).toFixed(2)}x${name === names[1] ? ` (${goal})` : ""}`,
    );
  }
}

async function main() {
  requireRoot();
  const dir = mkdtempSync(path.join(tmpdir(), "wp-bench-udp-"));
  const lab = await Lab.create({ name: "budp" });
  try {
    const prober = await lab.host("prober");
    const target = await lab.host("target");
    await prober.link(
      target,
      { ifname: "eth0", address: "198.51.100.10/24" },
      { ifname: "eth0", address: `${TARGET}/24` },
    );
    const code = `import socket,select\nss=[]\nfor p in ${JSON.stringify(ECHO)}:\n  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n  s.bind(('0.0.0.0',p))\n  ss.append(s)\nwhile True:\n  for s in select.select(ss,[],[])[0]:\n    d,a=s.recvfrom(65535)\n    s.sendto(d,a)`;
    target.spawn("python3", ["-c", code], { stdio: "ignore" });
    target.spawn(
      "dnsmasq",
      [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        `--listen-address=${TARGET}`,
        "--port=53",
        "--address=/bench.test/198.51.100.77",
        "--pid-file=",
        "--user=root",
      ],
      { stdio: "ignore" },
    );
    for (let i = 0; ; i++) {
      const bound = (await target.exec("ss", ["-lunH"])).stdout;
      if ([...ECHO, 53].every((p) => new RegExp(`:${p}\\s`).test(bound))) break;
      if (i > 200) throw new Error(`the UDP listeners did not start: ${bound}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const defaults = {};
    for (const key of LIMIT_KEYS) defaults[key] = (await target.exec("sysctl", ["-n", key])).stdout.trim();

    console.log(`responder: ${RESPONDER}`);
    await target.sysctl("net.ipv4.icmp_ratelimit", "0");
    await target.sysctl("net.ipv4.icmp_msgs_per_sec", "1000000");
    await target.sysctl("net.ipv4.icmp_msgs_burst", "1000000");
    await target.sysctl("net.ipv6.icmp.ratelimit", "0");
    await compare(prober, dir, "ICMP rate limit off in the target", 1000, "goal >= 2, same results", ["-T4"]);

    for (const key of LIMIT_KEYS) await target.sysctl(key, defaults[key]);
    await compare(
      prober,
      dir,
      `kernel's default ICMP rate limit (${LIMIT_KEYS.slice(0, 3)
        .map((k) => `${k.split(".").pop()}=${defaults[k]}`)
        .join(" ")})`,
      100,
      "goal >= 1, same results",
      ["-T4", ""],
      SETTLE_MS,
    );
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench/udp-scan: ${err.message}`);
  process.exitCode = 1;
});
