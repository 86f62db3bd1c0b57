// The package as a user installs it. The checkout is packed (`npm pack`: prepack builds the prebuilds, prepare
// compiles dist/), the tarball installed into fresh projects under a PATH with Node and npm and no compiler,
// make or python, and a small TypeScript program compiled against the package's declarations, from CommonJS and
// from an ES module with a strict tsconfig, then run inside a lab namespace: a scan whose open, closed and
// filtered ports are known and an ARP probe of a peer whose MAC is known. Then the fallback: with the prebuilds
// gone, one line saying what a build needs, and `npm rebuild` building from source where a compiler is.

import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import type { Host } from "../src/lab";
import { withLab } from "./helpers/lab";
import {
  BUILD_TOOLS,
  freshProject,
  nodeOnlyPath,
  npm,
  onPath,
  packCheckout,
  ROOT,
  run,
  tail,
  userEnv,
} from "./helpers/package";

// Packing builds two addons (x64, and arm64 cross-compiled) and the fallback a third: minutes on 2 cores.
t.setTimeout(30 * 60_000);

const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const TARGET = "198.51.100.11";
const SILENT = "198.51.100.99";
const PREBUILD = join("prebuilds", "linux-x64", "wireprobe.glibc.node");

const work = mkdtempSync(join(tmpdir(), "wireprobe-consumer-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const nodeOnly = nodeOnlyPath(join(work, "node-only-bin"));

/** The consumer's program, the same body for both module systems. */
const PROGRAM = `import { arp, packet, scan } from "wireprobe";
import type { ArpRecord, PortRecord } from "wireprobe";

async function main(): Promise<void> {
  const [target, silent] = process.argv.slice(2);
  if (target === undefined || silent === undefined) throw new Error("usage: main TARGET SILENT");
  const ports: Record<string, PortRecord["state"]> = {};
  const run = scan([target], { ports: "9,22,8080", timeoutMs: 300, retries: 1 });
  for await (const r of run) if (r.type === "port") ports[String(r.port)] = r.state;
  const macs: Record<string, ArpRecord["mac"]> = {};
  for await (const r of arp([target, silent], { timeoutMs: 300, retries: 1 })) macs[r.target] = r.mac;
  // The codecs take and give Node's Buffer: typed through the package's own reference to Node's types.
  const frame: Buffer = Buffer.alloc(packet.arp.REQUEST_FRAME_LENGTH);
  const ip = packet.address.ipv4ToInt(target);
  packet.arp.writeArpRequestFrame(frame, 0, new Uint8Array(6), ip, ip);
  const decoded = packet.decodeFrame(frame, { linkType: "ethernet" });
  console.log(JSON.stringify({ ports, macs, method: run.method, decodedTarget: decoded.arp?.targetIp }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
`;

/** Strict, and checking the package's declarations too (no skipLibCheck). */
const STRICT = {
  target: "ES2022",
  module: "nodenext",
  moduleResolution: "nodenext",
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  noUnusedLocals: true,
  skipLibCheck: false,
  outDir: "out",
};

interface Variant {
  name: string;
  /** the source file, in its own directory of the project */
  source: string;
  /** the compiled program */
  output: string;
  compilerOptions: Record<string, unknown>;
}

const VARIANTS: Variant[] = [
  // CommonJS (the project has no "type"): a .ts file, with Node's types named as most Node projects do.
  { name: "cjs", source: "main.ts", output: "out/main.js", compilerOptions: { ...STRICT, types: ["node"] } },
  // An ES module, as TypeScript 6 sets a project up: `types: []` (only the consumer's own types), and no DOM lib.
  {
    name: "esm",
    source: "main.mts",
    output: "out/main.mjs",
    compilerOptions: { ...STRICT, types: [], lib: ["ES2022"], verbatimModuleSyntax: true },
  },
];

/** Writes and compiles both variants in `project`; resolves with a failure text per variant (empty: compiled). */
async function compileVariants(project: string): Promise<Record<string, string>> {
  const failures: Record<string, string> = {};
  for (const v of VARIANTS) {
    const dir = join(project, v.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, v.source), PROGRAM);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: v.compilerOptions, files: [v.source] }, null, 2),
    );
    // The repository's TypeScript, run by the consumer's Node only: the project installs nothing but wireprobe.
    const r = await run(process.execPath, [TSC, "-p", dir], { cwd: project, env: userEnv() });
    failures[v.name] = r.code === 0 ? "" : tail(r);
  }
  return failures;
}

interface Lab {
  node: Host;
  targetMac: string;
}

/** node 198.51.100.10 and the target .11 on one segment: 8080 open, 22 closed, 9 dropped (filtered). */
async function buildLab(t: Test): Promise<Lab> {
  const lab = await withLab(t, "consumer");
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  const target = await lab.host("target");
  const targetIf = await target.connect(a, { address: `${TARGET}/24` });
  await target.nft(
    "table ip filter {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 9 drop\n  }\n}\n",
  );
  target.spawn("python3", ["-m", "http.server", "8080", "--bind", "0.0.0.0"], { stdio: "ignore" });
  for (let i = 0; (await target.exec("ss", ["-ltnH", "sport = :8080"])).stdout.trim() === ""; i++) {
    if (i > 200) throw new Error("the listener did not start");
    await new Promise((r) => setTimeout(r, 25));
  }
  return { node, targetMac: targetIf.mac };
}

/** Runs a compiled consumer program inside the lab's node namespace and checks what it found. */
async function runsInLab(t: Test, lab: Lab, program: string): Promise<void> {
  const r = await lab.node.exec(process.execPath, [program, TARGET, SILENT], {
    reject: false,
    timeoutMs: 60_000,
  });
  t.equal(r.code, 0, `${program} ran${r.code === 0 ? "" : `: ${r.stderr}`}`);
  if (r.code !== 0) return;
  const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
  t.same(out.ports, { "9": "filtered", "22": "closed", "8080": "open" }, "scan: the known port states");
  t.equal(out.method, "syn", "a SYN scan (root)");
  t.same(
    out.macs,
    { [TARGET]: lab.targetMac, [SILENT]: null },
    "ARP: the target's MAC, nothing from the silent one",
  );
  t.equal(out.decodedTarget, TARGET, "a frame written and decoded by the package's codecs");
}

/** Installs the tarball into a fresh project under the no-compiler PATH. */
function install(project: string, tarball: string, scripts: boolean) {
  const args = ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball];
  if (!scripts) args.splice(1, 0, "--ignore-scripts");
  return npm(args, { cwd: project, env: userEnv({ PATH: nodeOnly }), timeoutMs: 10 * 60_000 });
}

/** The addon file the installed package loads (its loader's choice), or the loader's error. */
async function addonOf(
  project: string,
): Promise<{ path?: string; error?: { name: string; code: string; message: string; exitCode: number } }> {
  const code = `try { console.log(JSON.stringify({ path: require("wireprobe/dist/native/binding").addonPath })) }
    catch (e) { console.log(JSON.stringify({ error: { name: e.name, code: e.code, message: e.message, exitCode: e.exitCode } })) }`;
  const r = await run(process.execPath, ["-e", code], { cwd: project, env: userEnv({ PATH: nodeOnly }) });
  return JSON.parse(r.stdout);
}

let tarball = "";

t.test("npm pack: fresh prebuilds, the compiled package, nothing of the tests", async (t) => {
  tarball = await packCheckout(work);
  const r = await run("tar", ["-tzvf", tarball]);
  t.equal(r.code, 0, "tar lists the tarball");
  const entries = r.stdout
    .trim()
    .split("\n")
    .map((line) => {
      const fields = line.trim().split(/\s+/);
      return { size: Number(fields[2]), name: (fields[5] ?? "").replace(/^package\//, "") };
    });
  const names = entries.map((e) => e.name);
  for (const want of [
    PREBUILD,
    "prebuilds/linux-arm64/wireprobe.glibc.node",
    "dist/index.js",
    "dist/index.d.ts",
    "dist/native/binding.js",
    "bin/wireprobe.js",
    "binding.gyp",
    "native/addon.cc",
    "package.json",
    "README.md",
    "CHANGELOG.md",
  ]) {
    t.ok(names.includes(want), `has ${want}`);
  }
  const unwanted = names.filter(
    (n) => /^(test|bench|scripts|src|\.ci|build|node_modules)\//.test(n) || n.endsWith(".map"),
  );
  t.same(unwanted, [], "no tests, benchmarks, scripts, sources of dist, builds or source maps");
  t.equal(names.filter((n) => n.startsWith("prebuilds/")).length, 2, "one prebuild per platform");
  const packed = readFileSync(tarball).length;
  const unpacked = entries.reduce((sum, e) => sum + e.size, 0);
  t.comment(
    `tarball: ${names.length} files, ${(packed / 1024).toFixed(1)} KiB packed, ${(unpacked / 1024).toFixed(1)} KiB unpacked`,
  );
  const dts = readFileSync(join(work, "checkout", "dist", "index.d.ts"), "utf8");
  // A triple-slash directive counts only before the first statement: comments (the package's doc) may precede it.
  const head = dts.replace(/^(?:\s+|\/\*[\s\S]*?\*\/|\/\/(?!\/)[^\n]*\n)*/, "");
  t.match(
    head,
    /^\/\/\/ <reference types="node" preserve="true" \/>/,
    "index.d.ts brings Node's types along",
  );
});

t.test("the no-compiler PATH has sh, node and npm and no build tool", async (t) => {
  for (const tool of ["sh", "node", "npm"]) t.ok(onPath(tool, nodeOnly), tool);
  for (const tool of BUILD_TOOLS) t.notOk(onPath(tool, nodeOnly), `no ${tool}`);
});

t.test("installed with scripts off and no compiler: the prebuild, typed and working", async (t) => {
  t.ok(tarball, "packed");
  if (!tarball) return;
  const project = freshProject(join(work, "app"));
  const r = await install(project, tarball, false);
  t.equal(r.code, 0, `npm install --ignore-scripts${r.code === 0 ? "" : `:\n${tail(r)}`}`);
  const pkg = join(project, "node_modules", "wireprobe");
  t.notOk(existsSync(join(pkg, "build")), "nothing was built");
  t.equal((await addonOf(project)).path, join(pkg, PREBUILD), "the loader picks the linux-x64 prebuild");
  const failures = await compileVariants(project);
  for (const v of VARIANTS)
    t.equal(
      failures[v.name],
      "",
      `${v.name}: tsc (${JSON.stringify(v.compilerOptions.types)} types) compiles`,
    );
  const lab = await buildLab(t);
  for (const v of VARIANTS) {
    if (failures[v.name] === "")
      await t.test(`${v.name} program`, (t) => runsInLab(t, lab, join(project, v.name, v.output)));
  }
});

t.test(
  "installed with scripts on (npm 11's default) and no compiler: node-gyp-build keeps the prebuild",
  async (t) => {
    t.ok(tarball, "packed");
    if (!tarball) return;
    const project = freshProject(join(work, "app-scripts"));
    const r = await install(project, tarball, true);
    t.equal(r.code, 0, `npm install${r.code === 0 ? "" : `:\n${tail(r)}`}`);
    const warning = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.includes("allowScripts"));
    if (warning.length > 0) t.comment(`npm: ${warning.join(" / ")}`);
    const pkg = join(project, "node_modules", "wireprobe");
    t.notOk(existsSync(join(pkg, "build")), "the install script built nothing");
    t.equal((await addonOf(project)).path, join(pkg, PREBUILD), "the loader picks the prebuild");
  },
);

t.test("no prebuild that fits: one line saying what a build needs, and npm rebuild builds it", async (t) => {
  t.ok(tarball, "packed");
  if (!tarball) return;
  const project = freshProject(join(work, "app-fallback"));
  const r = await install(project, tarball, false);
  t.equal(r.code, 0, `npm install --ignore-scripts${r.code === 0 ? "" : `:\n${tail(r)}`}`);
  const pkg = join(project, "node_modules", "wireprobe");
  // What a platform without a shipped binary sees (another CPU, musl): no prebuild at all.
  rmSync(join(pkg, "prebuilds"), { recursive: true, force: true });
  const line = `no native addon for linux-x64 (glibc) in ${pkg}: build it from source with npm rebuild wireprobe (needs a C++17 compiler, make and python3)`;

  const { error } = await addonOf(project);
  t.same(
    error,
    { name: "EnvironmentError", code: "ENOADDON", message: line, exitCode: 3 },
    "require: an EnvironmentError",
  );
  const cli = await run(process.execPath, [join(pkg, "bin", "wireprobe.js"), "arp", TARGET], {
    cwd: project,
    env: userEnv({ PATH: nodeOnly }),
  });
  t.equal(cli.code, 3, "the CLI exits 3");
  t.equal(cli.stderr, `wireprobe: ${line}\n`, "with that one line and no stack trace");

  const noCompiler = await npm(["rebuild", "wireprobe"], { cwd: project, env: userEnv({ PATH: nodeOnly }) });
  t.not(noCompiler.code, 0, "npm rebuild fails without a compiler");
  t.match(noCompiler.stderr, /gyp ERR!/, "in node-gyp (it finds no prebuild and tries to build)");
  const why = noCompiler.stderr.split("\n").find((l) => /gyp ERR! (find|stack|configure error)/.test(l));
  t.comment(`npm rebuild without a compiler: ${why ?? tail(noCompiler, 3)}`);
  t.notOk(existsSync(join(pkg, "build", "Release", "wireprobe.node")), "and leaves no addon");

  // Where a compiler is: the install script (node-gyp-build) finds no prebuild and runs node-gyp.
  const rebuilt = await npm(["rebuild", "wireprobe"], { cwd: project, timeoutMs: 15 * 60_000 });
  t.equal(
    rebuilt.code,
    0,
    `npm rebuild wireprobe with a compiler${rebuilt.code === 0 ? "" : `:\n${tail(rebuilt)}`}`,
  );
  const built = join(pkg, "build", "Release", "wireprobe.node");
  t.equal((await addonOf(project)).path, built, "the loader picks the addon built from source");
  if (!existsSync(built)) return;
  // The CommonJS program compiled in the first project, run against this one's package.
  const from = join(work, "app", "cjs", "out");
  if (!existsSync(join(from, "main.js"))) return t.fail("the compiled CommonJS program is missing");
  cpSync(from, join(project, "cjs"), { recursive: true });
  const lab = await buildLab(t);
  await t.test("cjs program", (t) => runsInLab(t, lab, join(project, "cjs", "main.js")));
});
