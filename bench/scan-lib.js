// Shared by the scan benchmarks: the lab (prober - router - target, point-to-point veths, the target
// answering for a whole AnyIP range) and the Node peer's native builds; the rest comes from lib.js.
"use strict";
const { execFileSync } = require("node:child_process");
const { existsSync } = require("node:fs");
const path = require("node:path");
const { Lab } = require("../dist/lab");
const { BIN, ROOT, fmt, median, timed } = require("./lib");

/**
 * prober eth0 (203.0.113.10) <-> (203.0.113.1) router (198.51.100.1) <-> target eth0 (198.51.100.2), each a
 * veth pair; the target owns `range` as a local route on lo (AnyIP), so every address in it answers, with
 * RST when nothing listens, or SYN-ACK from `listenPort` (a listener on 0.0.0.0).
 */
async function sweepLab(name, range, { listenPort } = {}) {
  const lab = await Lab.create({ name });
  try {
    const router = await lab.host("router");
    const prober = await lab.host("prober");
    const target = await lab.host("target");
    await router.sysctl("net.ipv4.ip_forward", "1");
    await router.link(
      prober,
      { ifname: "eth0", address: "203.0.113.1/24" },
      { ifname: "eth0", address: "203.0.113.10/24" },
    );
    await router.link(
      target,
      { ifname: "eth1", address: "198.51.100.1/24" },
      { ifname: "eth0", address: "198.51.100.2/24" },
    );
    await router.route([range, "via", "198.51.100.2"]);
    await prober.route(["default", "via", "203.0.113.1"]);
    await target.route(["default", "via", "198.51.100.1"]);
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
    return { lab, router, prober, target, gatewayMac: await router.mac("eth0") };
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

module.exports = { BIN, ROOT, timed, median, sweepLab, ensurePeerModules, requireRoot, fmt };
