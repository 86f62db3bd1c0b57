// Shared by the scan benchmarks: the lab (prober and target on one direct veth pair, the target's kernel
// answering for a whole AnyIP range) and the Node peer's native builds; the rest comes from lib.js.
"use strict";
const { execFileSync } = require("node:child_process");
const { existsSync } = require("node:fs");
const path = require("node:path");
const { Lab } = require("../dist/lab");
const { BIN, ROOT, fmt, median, timed } = require("./lib");

/** What answers the probes, said in every benchmark's output. */
const RESPONDER =
  "the target's own kernel, one direct veth away (no bridge, no router, no userspace responder): it owns the range as a local route (AnyIP)";

/**
 * prober eth0 (198.51.100.10) <-> target eth0 (198.51.100.2), one veth pair: the fastest lab there is, so
 * the lab is never what is measured. The prober routes `range` via the target (one neighbour entry, the
 * target's MAC, however big the range); the target owns `range` as a local route on lo (AnyIP), so every
 * address in it answers, with RST when nothing listens, or SYN-ACK from `listenPort` (a listener on 0.0.0.0).
 */
async function sweepLab(name, range, { listenPort } = {}) {
  const lab = await Lab.create({ name });
  try {
    const prober = await lab.host("prober");
    const target = await lab.host("target");
    await prober.link(
      target,
      { ifname: "eth0", address: "198.51.100.10/24" },
      { ifname: "eth0", address: "198.51.100.2/24" },
    );
    await prober.route([range, "via", "198.51.100.2"]);
    await target.route(["local", range, "dev", "lo"]);
    if (listenPort !== undefined) {
      const code = `import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',${listenPort}))\ns.listen(4096)\ntime.sleep(1e6)`;
      target.spawn("python3", ["-c", code], { stdio: "ignore" });
      for (
        let i = 0;
        (await target.exec("ss", ["-ltnH", `sport = :${listenPort}`])).stdout.trim() === "";
        i++
      ) {
        if (i > 200) throw new Error("the listener did not start");
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    return { lab, prober, target, gatewayMac: await target.mac("eth0") };
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

/** The Node peer's native modules: raw-socket builds with npm install; cap needs libpcap headers first. */
function ensurePeerModules() {
  const built = (m, file) => existsSync(path.join(ROOT, "node_modules", m, "build", "Release", file));
  if (built("raw-socket", "raw.node") && built("cap", "cap.node")) return;
  if (!existsSync("/usr/include/pcap.h")) {
    console.error("installing libpcap-dev (cap builds against it)");
    execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "libpcap-dev"], {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  }
  const nodedir = execFileSync("npm", ["config", "get", "nodedir"], { encoding: "utf8" }).trim();
  for (const m of ["raw-socket", "cap"]) {
    if (built(m, m === "cap" ? "cap.node" : "raw.node")) continue;
    const dir = path.join(ROOT, "node_modules", m);
    if (!existsSync(dir)) throw new Error(`node_modules/${m} is missing: run npm install`);
    console.error(`building ${m}`);
    execFileSync(
      path.join(ROOT, "node_modules", ".bin", "node-gyp"),
      ["rebuild", ...(nodedir && nodedir !== "undefined" ? [`--nodedir=${nodedir}`] : [])],
      {
        cwd: dir,
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
  }
}

function requireRoot() {
  if (process.getuid?.() !== 0) throw new Error("run as root: the benchmark builds network namespaces");
  for (const tool of ["nmap", "zmap"]) {
    try {
      execFileSync("which", [tool], { stdio: "ignore" });
    } catch {
      throw new Error(`${tool} is missing: apt-get install ${tool}`);
    }
  }
}

module.exports = { BIN, ROOT, RESPONDER, timed, median, sweepLab, ensurePeerModules, requireRoot, fmt };
