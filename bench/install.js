#!/usr/bin/env node
// Install time of the packed package in a fresh project: with its prebuilds (install scripts off, as npm 12
// will have them for dependencies, and on, npm 11's default), and without them (the install script builds the
// addon from source). Several runs each, every one in a new empty project; npm's cache is warmed first, so the
// figures are the install itself, not the download of the dependencies.
//
//   npm pack && node bench/install.js wireprobe-0.1.0.tgz [--runs 3]
"use strict";
const { execFileSync, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const args = process.argv.slice(2);
const tarball = args.find((a) => a.endsWith(".tgz"));
const r = args.indexOf("--runs");
const RUNS = r >= 0 ? Number(args[r + 1]) : 3;
if (!tarball || !fs.existsSync(tarball) || !(RUNS >= 1)) {
  process.stderr.write(
    "usage: node bench/install.js TARBALL.tgz [--runs N] (make the tarball with npm pack)\n",
  );
  process.exit(2);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "wireprobe-install-bench-"));
// npm's own variables (when run through npm run) would be read as the fresh project's configuration.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

/** The same package without prebuilds/: what a platform with no shipped binary installs. */
function withoutPrebuilds(file) {
  const dir = path.join(work, "unpacked");
  fs.mkdirSync(dir);
  execFileSync("tar", ["-xzf", file, "-C", dir]);
  fs.rmSync(path.join(dir, "package", "prebuilds"), { recursive: true, force: true });
  const out = path.join(work, "no-prebuilds.tgz");
  execFileSync("tar", ["-czf", out, "-C", dir, "package"]);
  return out;
}

/** One install into a new project; returns wall milliseconds and whether it compiled the addon. */
function install(file, scripts, n) {
  const project = path.join(work, `p${n}`);
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, "package.json"), '{"name":"bench","version":"1.0.0","private":true}\n');
  const argv = [
    "install",
    "--no-audit",
    "--no-fund",
    "--prefer-offline",
    ...(scripts ? [] : ["--ignore-scripts"]),
    file,
  ];
  const started = process.hrtime.bigint();
  const run = spawnSync("npm", argv, { cwd: project, env, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (run.status !== 0) throw new Error(`npm ${argv.join(" ")} failed:\n${run.stderr}`);
  const built = fs.existsSync(
    path.join(project, "node_modules", "wireprobe", "build", "Release", "wireprobe.node"),
  );
  fs.rmSync(project, { recursive: true, force: true });
  return { ms, built };
}

function main() {
  const full = path.resolve(tarball);
  const bare = withoutPrebuilds(full);
  const cases = [
    { name: "prebuilds, scripts off", file: full, scripts: false },
    { name: "prebuilds, scripts on", file: full, scripts: true },
    { name: "no prebuilds (build from source)", file: bare, scripts: true },
  ];
  install(full, false, 0); // warms npm's cache with the dependencies
  let n = 1;
  process.stdout.write(
    `tarball ${path.basename(full)}: ${fs.statSync(full).size} bytes; without prebuilds ${fs.statSync(bare).size} bytes\n`,
  );
  // Round robin, so that a slower or busier stretch of the machine falls on every case alike.
  const times = cases.map(() => []);
  const built = cases.map(() => false);
  for (let i = 0; i < RUNS; i++) {
    cases.forEach((c, k) => {
      const result = install(c.file, c.scripts, n++);
      times[k].push(result.ms);
      built[k] = built[k] || result.built;
    });
  }
  cases.forEach((c, k) => {
    const sorted = [...times[k]].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const runs = times[k].map((t) => (t / 1000).toFixed(1)).join(", ");
    process.stdout.write(
      `${c.name.padEnd(34)} median ${(median / 1000).toFixed(1)} s  runs ${runs} s${built[k] ? "  (compiled the addon)" : ""}\n`,
    );
  });
}

try {
  main();
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
