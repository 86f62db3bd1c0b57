// Shared by every benchmark: timed runs of a tool inside a lab namespace, argument and statistics helpers.
"use strict";
const { spawn } = require("node:child_process");
const { existsSync } = require("node:fs");
const path = require("node:path");

const ROOT = path.join(__dirname, "..");
const BIN = path.join(ROOT, "bin", "wireprobe.js");
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;

/**
 * Runs cmd in the namespace (`ip netns exec`); resolves with exit code, wall ms (spawn to exit), output,
 * and with /usr/bin/time its peak RSS (KB) and CPU time (user + system, ms).
 */
function timed(ns, cmd, cmdArgs, { timeoutMs = 900_000 } = {}) {
  return new Promise((resolve, reject) => {
    const format = "RSS_KB=%M CPU_S=%U %S";
    const argv = ["netns", "exec", ns, ...(TIME ? [TIME, "-f", format, cmd] : [cmd]), ...cmdArgs];
    const started = process.hrtime.bigint();
    const child = spawn("ip", argv, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => {
      stdout += d;
      if (stdout.length > 1 << 24) stdout = stdout.slice(-(1 << 20)); // keep the tail of huge outputs
    });
    child.stderr.setEncoding("utf8").on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const rss = /RSS_KB=(\d+)/.exec(stderr);
      const cpu = /CPU_S=([\d.]+) ([\d.]+)/.exec(stderr);
      resolve({
        code,
        ms,
        stdout,
        stderr,
        rssKb: rss ? Number(rss[1]) : Number.NaN,
        cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : Number.NaN,
      });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function percentile(xs, p) {
  if (xs.length === 0) return Number.NaN;
  const sorted = Float64Array.from(xs).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** `--name N` from the command line, or the default. */
function numberArg(name, dflt) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

const fmt = (n) => Math.round(n).toLocaleString("en");

module.exports = { BIN, ROOT, timed, median, percentile, numberArg, fmt };
