#!/usr/bin/env node
// Builds the prebuilt addons the npm package ships: prebuilds/linux-x64 and prebuilds/linux-arm64, one N-API
// binary each (NAPI_VERSION 8, from binding.gyp), made by prebuildify and found at run time by node-gyp-build.
// The arm64 one is cross-compiled with Debian's g++-aarch64-linux-gnu. Run by `npm run prebuilds` and by
// `prepack`, so that a packed tarball always holds binaries built from its own native sources.
//
//   node scripts/prebuild.js [--arch x64,arm64] [--out DIR]
//
// --out DIR writes DIR/prebuilds/... instead of the package's own prebuilds/ (the arm64 test builds its own).
//
// prebuildify runs node-gyp in its working directory and moves build/Release/*.node away when done; it runs
// here in a scratch copy of the native sources, so the checkout's own build/Release (what the tests and the
// CLI load in a clone) is never touched, and two runs at once do not share a build directory.

"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");

/**
 * The compiler and tools for each target, as environment variables for node-gyp's Makefile (none: the host's),
 * and the Debian package that has them. This runs on a linux-x64 host; arm64 is cross-compiled.
 */
const TARGETS = {
  x64: { tools: {}, package: "g++" },
  arm64: {
    tools: {
      CC: "aarch64-linux-gnu-gcc",
      CXX: "aarch64-linux-gnu-g++",
      AR: "aarch64-linux-gnu-ar",
      STRIP: "aarch64-linux-gnu-strip",
    },
    package: "g++-aarch64-linux-gnu",
  },
};

/** The ELF machine each target's binary must have (readelf -h), checked after the build. */
const ELF_MACHINE = { x64: "Advanced Micro Devices X86-64", arm64: "AArch64" };

/** A failure the user can act on: said in one line, after the scratch directory is gone. */
class PrebuildError extends Error {}

function fail(message) {
  throw new PrebuildError(message);
}

function parseArgs(argv) {
  const options = { arches: Object.keys(TARGETS), out: root };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === "--arch") options.arches = value().split(",");
    else if (flag === "--out") options.out = path.resolve(value());
    else fail(`unknown option ${argv[i]} (options: --arch x64,arm64, --out DIR)`);
  }
  for (const arch of options.arches) if (!TARGETS[arch]) fail(`unknown arch ${arch} (x64 or arm64)`);
  return options;
}

function onPath(command) {
  return spawnSync("sh", ["-c", `command -v "$1"`, "sh", command], { stdio: "ignore" }).status === 0;
}

/**
 * node-gyp needs Node's headers. npm on this project's machines points it at the installed ones (nodedir);
 * where nothing says so, use the running Node's own include/node when it is there, so no download is needed.
 */
function nodedirEnv() {
  if (process.env.npm_config_nodedir) return {};
  const prefix = path.resolve(path.dirname(process.execPath), "..");
  return fs.existsSync(path.join(prefix, "include", "node", "node_api.h"))
    ? { npm_config_nodedir: prefix }
    : {};
}

/** A scratch directory with what node-gyp reads: binding.gyp, native/, package.json (the prebuild's name). */
function stage() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wireprobe-prebuild-"));
  fs.copyFileSync(path.join(root, "binding.gyp"), path.join(dir, "binding.gyp"));
  fs.copyFileSync(path.join(root, "package.json"), path.join(dir, "package.json"));
  fs.cpSync(path.join(root, "native"), path.join(dir, "native"), { recursive: true });
  // binding.gyp asks node for node-addon-api's include directory: resolve it from the package's node_modules.
  fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir");
  return dir;
}

function elfMachine(file) {
  const out = spawnSync("readelf", ["-h", file], { encoding: "utf8" });
  return /Machine:\s+(.+)/.exec(out.stdout ?? "")?.[1]?.trim();
}

function build(arch, dir, out) {
  const target = TARGETS[arch];
  const compiler = target.tools.CXX ?? "g++";
  if (!onPath(compiler)) fail(`${compiler} not found: install it (apt-get install ${target.package})`);
  const prebuildify = require.resolve("prebuildify/bin.js", { paths: [root] });
  // The devDependency's node-gyp, not whichever npm bundles: the same build tool wherever this runs.
  const nodeGyp = require.resolve("node-gyp/bin/node-gyp.js", { paths: [root] });
  const args = [
    prebuildify,
    "--napi",
    "--strip",
    "--tag-libc",
    "--arch",
    arch,
    "--out",
    out,
    "--node-gyp",
    nodeGyp,
  ];
  // The target only names the headers node-gyp would fetch; with NAPI_VERSION pinned, any Node >= 20 will do.
  args.push("--target", process.versions.node);
  if (target.tools.STRIP) args.push("--strip-bin", target.tools.STRIP);
  args.push(dir);
  process.stdout.write(`prebuild: linux-${arch}${target.tools.CXX ? ` (cross: ${target.tools.CXX})` : ""}\n`);
  const run = spawnSync(process.execPath, args, {
    cwd: dir,
    stdio: "inherit",
    env: { ...process.env, ...nodedirEnv(), ...target.tools },
  });
  if (run.status !== 0) fail(`prebuildify for linux-${arch} failed (exit ${run.status ?? run.signal})`);
  const folder = path.join(out, "prebuilds", `linux-${arch}`);
  const built = fs.readdirSync(folder).filter((f) => f.endsWith(".node"));
  if (built.length !== 1) fail(`expected one addon in ${folder}, found ${built.join(", ") || "none"}`);
  const file = path.join(folder, built[0]);
  const machine = elfMachine(file);
  if (machine !== ELF_MACHINE[arch]) fail(`${file} is built for ${machine}, not ${ELF_MACHINE[arch]}`);
  process.stdout.write(
    `prebuild: ${path.relative(process.cwd(), file) || file} (${fs.statSync(file).size} bytes)\n`,
  );
}

function main() {
  const { arches, out } = parseArgs(process.argv.slice(2));
  if (process.platform !== "linux" || process.arch !== "x64")
    fail(
      `builds on linux-x64 (this is ${process.platform}-${process.arch}); the arm64 binary is cross-compiled`,
    );
  const dir = stage();
  try {
    for (const arch of arches) {
      // A fresh folder each time: nothing stale from an earlier build (another name, another tag) gets packed.
      fs.rmSync(path.join(out, "prebuilds", `linux-${arch}`), { recursive: true, force: true });
      build(arch, dir, out);
      // node-gyp rebuild starts from a clean build/ anyway; clearing it keeps the next arch's logs readable.
      fs.rmSync(path.join(dir, "build"), { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  if (!(err instanceof PrebuildError)) throw err;
  process.stderr.write(`prebuild: ${err.message}\n`);
  process.exitCode = 1;
}
