// The container image: deploy/image/build.sh builds it on this machine from Debian packages (mmdebstrap) and
// imports it into podman, and the agent runs from it inside a lab namespace, non-root, NET_RAW only, read-only
// root filesystem, and sees a real ARP reply from its peer (the peer's MAC is the oracle):
//   1. with podman, as the README shows it;
//   2. with runc and an OCI configuration shaped like the one the Kubernetes runtimes (containerd, CRI-O) give a
//      non-root container: NET_RAW in the bounding, permitted and effective sets but not the ambient set,
//      no_new_privs (allowPrivilegeEscalation: false), no tmpfs anywhere. podman puts added capabilities in the
//      ambient set, Kubernetes does not: this run is what shows the image's file capability works there.
//   3. the same without NET_RAW: the agent starts all the same (the file capability has no effective bit) and
//      says on /healthz and in its metrics that it cannot probe, and why.
//
// This machine's podman needs `--runtime runc` (crun 1.8 refuses the hybrid cgroup layout: cgroup v1
// controllers with hugetlb left on cgroup v2) and explicit --ulimit values (root here lacks CAP_SYS_RESOURCE,
// and podman's default RLIMIT_NOFILE/NPROC exceed the hard limits conmon runs with).
//
// The image is built once per content of the sources it is made from (its tag is their hash), so a second
// run reuses it; older test images are removed.

import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import t, { type Test } from "tap";
import type { Host } from "../src/lab";
import { waitUntil } from "../src/lab";
import { withLab } from "./helpers/lab";
import { npm, ROOT, run, tail, userEnv } from "./helpers/package";

// a fresh image build (npm pack, mmdebstrap, podman import) alone takes minutes
t.setTimeout(20 * 60_000);

const REPO = "localhost/wireprobe";
const PODMAN = ["--runtime", "runc"];
// within the hard limits podman's conmon has here (nofile 20000, nproc 32768)
const ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=1024:1024"];
const APP_UID = 65532; // the image's `wireprobe` user (deploy/image/build.sh)
const CAP_NET_RAW = 1n << 13n;

/** Files under `dir` (relative to ROOT), recursively, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(ROOT, p));
    }
  };
  walk(join(ROOT, dir));
  return out.sort();
}

/** A hash of everything the image is made from: its tag, so an unchanged checkout reuses the image. */
function sourceHash(): string {
  const h = createHash("sha256");
  const files = [
    "package.json",
    "package-lock.json",
    "binding.gyp",
    ...["bin", "src", "native", "deploy/image", "scripts"].flatMap(filesUnder),
  ];
  for (const f of files)
    h.update(f)
      .update("\0")
      .update(readFileSync(join(ROOT, f)))
      .update("\0");
  return h.digest("hex").slice(0, 16);
}

async function podman(args: string[], timeoutMs = 120_000) {
  return run("podman", [...PODMAN, ...args], { timeoutMs });
}

/**
 * The package tarball, x64 prebuild only (the image is x64; the arm64 cross build would only cost CI time):
 * a copy of the checkout's sources, its prebuild built, dist/ compiled, packed without npm's lifecycle scripts.
 */
async function packX64(work: string): Promise<string> {
  const copy = join(work, "checkout");
  mkdirSync(copy);
  for (const f of ["package.json", "package-lock.json", "binding.gyp", "tsconfig.json", "README.md"]) {
    writeFileSync(join(copy, f), readFileSync(join(ROOT, f)));
  }
  for (const f of ["CHANGELOG.md", "ARCHITECTURE.md"])
    writeFileSync(join(copy, f), readFileSync(join(ROOT, f)));
  for (const d of ["bin", "src", "native", "scripts"]) {
    for (const f of filesUnder(d)) {
      mkdirSync(join(copy, f, ".."), { recursive: true });
      writeFileSync(join(copy, f), readFileSync(join(ROOT, f)));
      chmodSync(join(copy, f), statSync(join(ROOT, f)).mode);
    }
  }
  symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"), "dir");
  const steps: [string, string[]][] = [
    [process.execPath, ["scripts/prebuild.js", "--arch", "x64"]],
    [process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]],
  ];
  for (const [cmd, args] of steps) {
    const r = await run(cmd, args, { cwd: copy, timeoutMs: 15 * 60_000 });
    if (r.code !== 0) throw new Error(`${args.join(" ")} failed:\n${tail(r)}`);
  }
  const r = await npm(["pack", "--ignore-scripts", "--pack-destination", work], { cwd: copy });
  const name = r.stdout.trim().split("\n").pop() ?? "";
  if (r.code !== 0 || !name.endsWith(".tgz")) throw new Error(`npm pack failed:\n${tail(r)}`);
  return join(work, name);
}

/** Builds the image unless this source hash has one already; removes older test images. Resolves with its tag. */
async function ensureImage(t: Test): Promise<string> {
  const tag = `${REPO}:test-${sourceHash()}`;
  const list = await podman(["images", "--format", "{{.Repository}}:{{.Tag}}", REPO]);
  for (const old of list.stdout.split("\n").filter((x) => x.startsWith(`${REPO}:test-`) && x !== tag)) {
    await podman(["rmi", "-f", old]);
  }
  if ((await podman(["image", "exists", tag])).code === 0) {
    t.comment(`reusing ${tag}`);
    return tag;
  }
  const work = mkdtempSync(join(tmpdir(), "wireprobe-image-test-"));
  try {
    const started = Date.now();
    const tarball = await packX64(work);
    const packed = Date.now();
    const r = await run("bash", [join(ROOT, "deploy/image/build.sh"), "--tag", tag, "--tarball", tarball], {
      timeoutMs: 20 * 60_000,
      env: userEnv({ NODE_OPTIONS: "" }),
    });
    if (r.code !== 0) throw new Error(`deploy/image/build.sh failed (exit ${r.code}):\n${tail(r, 40)}`);
    t.comment(
      `built ${tag}: pack ${((packed - started) / 1000).toFixed(0)} s, image ${((Date.now() - packed) / 1000).toFixed(0)} s`,
    );
    return tag;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A two-node lab: node1 runs the agent, node2 is its peer (the oracle: its MAC must be the one that replied). */
async function twoNodes(t: Test, name: string) {
  const lab = await withLab(t, name);
  const lan = await lab.segment("lan");
  const node1 = await lab.host("node1");
  const node2 = await lab.host("node2");
  await node1.connect(lan, { address: "198.51.100.10/24" });
  const peer = await node2.connect(lan, { address: "198.51.100.11/24" });
  return { node1, node2, peerMac: peer.mac };
}

const AGENT_ARGS = [
  "agent",
  "--listen",
  "198.51.100.10:9474",
  "--node-name",
  "node1",
  "--nodes",
  "node2=198.51.100.11",
  "--interval",
  "1s",
];

async function scrape(host: Host, path: string): Promise<string> {
  const r = await host.exec("curl", ["-s", "-S", "--max-time", "5", `http://198.51.100.10:9474${path}`], {
    reject: false,
  });
  return r.code === 0 ? r.stdout : "";
}

const REPLY = /^wireprobe_peer_adjacent\{[^}]*address="198\.51\.100\.11"[^}]*state="reply"[^}]*\} 1$/m;

/** Waits for the adjacency metric to show node2's reply and checks /results names node2's real MAC. */
async function expectReply(t: Test, node1: Host, peerMac: string, log: () => string): Promise<void> {
  let metrics = "";
  await waitUntil(
    "wireprobe_peer_adjacent{state=reply} for 198.51.100.11",
    async () => {
      metrics = await scrape(node1, "/metrics");
      return REPLY.test(metrics);
    },
    60_000,
    () =>
      `last scrape:\n${metrics
        .split("\n")
        .filter((l) => l.startsWith("wireprobe_"))
        .join("\n")}\n${log()}`,
  );
  t.match(metrics, REPLY, "the adjacency metric shows a real reply");
  t.match(metrics, /^wireprobe_agent_healthy\{[^}]*node="node1"[^}]*\} 1$/m, "the agent is healthy");
  t.equal((await scrape(node1, "/healthz")).trim(), "ok", "/healthz ok");
  const results = JSON.parse(await scrape(node1, "/results")) as {
    round?: { result?: { arp?: { mac?: string | null }[] } | null } | null;
  };
  const macs = (results.round?.result?.arp ?? []).filter((r) => r.mac).map((r) => r.mac);
  t.same(macs, [peerMac], "the reply came from node2's MAC");
}

/** The uid and effective capabilities of the container's first process, read on the host. */
function processFacts(pid: number): { uid: number; capEff: bigint; capAmb: bigint; noNewPrivs: string } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => (new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "").trim();
  return {
    uid: Number(field("Uid").split(/\s+/)[1]),
    capEff: BigInt(`0x${field("CapEff")}`),
    capAmb: BigInt(`0x${field("CapAmb")}`),
    noNewPrivs: field("NoNewPrivs"),
  };
}

let image: string | undefined;
t.before(async () => {
  image = await ensureImage(t);
  const size = await podman(["image", "inspect", "--format", "{{.Size}}", image]);
  t.comment(`${image}: ${(Number(size.stdout) / 1e6).toFixed(0)} MB`);
});

t.test(
  "the image: entrypoint node with the file capability, non-root user, the package's prebuild",
  async (t) => {
    const tag = image as string;
    const cfg = await podman(["image", "inspect", "--format", "{{json .Config}}", tag]);
    const config = JSON.parse(cfg.stdout) as { User: string; Entrypoint: string[] };
    t.equal(config.User, `${APP_UID}:${APP_UID}`, "USER is the wireprobe user");
    t.same(config.Entrypoint, ["/usr/bin/node", "/opt/wireprobe/node_modules/wireprobe/bin/wireprobe.js"]);
    const mount = await podman(["image", "mount", tag]);
    t.teardown(() => podman(["image", "unmount", tag]));
    const rootfs = mount.stdout.trim();
    const getcap = await run("getcap", [join(rootfs, "usr/bin/node")]);
    t.match(getcap.stdout, /cap_net_raw[=+]p$/m, "node carries cap_net_raw+p: permitted, not effective");
    const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;
    const r = await podman([
      "run",
      "--rm",
      "--network",
      "none",
      ...ULIMITS,
      "--cap-drop",
      "ALL",
      "--cap-add",
      "NET_RAW",
      tag,
      "--version",
    ]);
    t.equal(r.stdout.trim(), version, `wireprobe --version (${tail(r, 3)})`);
  },
);

t.test(
  "podman: the agent in a lab namespace, uid 65534, NET_RAW only, read-only, scraped with curl",
  async (t) => {
    const { node1, peerMac } = await twoNodes(t, "img");
    const name = `${node1.ns}-agent`;
    t.teardown(() => podman(["rm", "-f", "-t", "0", name]));
    const r = await podman([
      "run",
      "-d",
      "--name",
      name,
      "--network",
      `ns:${node1.nsPath}`,
      "--cap-drop",
      "ALL",
      "--cap-add",
      "NET_RAW",
      "--user",
      "65534:65534",
      "--read-only",
      "--security-opt",
      "no-new-privileges",
      ...ULIMITS,
      image as string,
      ...AGENT_ARGS,
    ]);
    t.equal(r.code, 0, `podman run: ${tail(r, 5)}`);
    const logs = async () => tail(await podman(["logs", name]), 20);
    let logText = "";
    await expectReply(t, node1, peerMac, () => logText).catch(async (err) => {
      logText = await logs();
      throw new Error(`${(err as Error).message}\ncontainer log:\n${logText}`);
    });
    const pid = Number((await podman(["inspect", "--format", "{{.State.Pid}}", name])).stdout);
    const facts = processFacts(pid);
    t.equal(facts.uid, 65534, "runs as uid 65534");
    t.equal(facts.capEff, CAP_NET_RAW, "effective capabilities: NET_RAW alone");
  },
);

/** An OCI runtime configuration like a Kubernetes runtime's for the DaemonSet's container. */
function ociConfig(rootfs: string, netns: string, caps: string[], args: string[]): object {
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: APP_UID, gid: APP_UID },
      args: ["/usr/bin/node", "/opt/wireprobe/node_modules/wireprobe/bin/wireprobe.js", ...args],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_ENV=production"],
      cwd: "/",
      // containerd's shape for a non-root container: added capabilities everywhere but ambient
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 4096, soft: 4096 }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    hostname: "wireprobe",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: {
      namespaces: [
        { type: "pid" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "network", path: netns },
      ],
      maskedPaths: ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}

/** Starts `runc run` of a bundle in the foreground (stopped and deleted at teardown). */
function runcRun(
  t: Test,
  id: string,
  config: object,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const bundle = mkdtempSync(join(tmpdir(), "wireprobe-oci-"));
  writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
  const child = spawn("runc", ["run", "--bundle", bundle, id], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  t.teardown(async () => {
    await run("runc", ["kill", id, "KILL"]);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    await run("runc", ["delete", "-f", id]);
    rmSync(bundle, { recursive: true, force: true });
  });
  return { child, output: () => tail({ code: 0, signal: null, stdout: out, stderr: "" }, 20), exited };
}

t.test(
  "as Kubernetes runs it (runc, no ambient capabilities, no_new_privs): NET_RAW from the file capability",
  async (t) => {
    const { node1, peerMac } = await twoNodes(t, "imgk");
    const tag = image as string;
    const mount = await podman(["image", "mount", tag]);
    t.teardown(() => podman(["image", "unmount", tag]));
    const rootfs = mount.stdout.trim();
    const id = `${node1.ns}-k`;
    const ctr = runcRun(t, id, ociConfig(rootfs, node1.nsPath, ["CAP_NET_RAW"], AGENT_ARGS));
    await expectReply(t, node1, peerMac, ctr.output);
    const state = JSON.parse((await run("runc", ["state", id])).stdout) as { pid: number };
    const facts = processFacts(state.pid);
    t.equal(facts.uid, APP_UID, `runs as the image's user ${APP_UID}`);
    t.equal(facts.capEff, CAP_NET_RAW, "effective: NET_RAW alone");
    t.equal(facts.capAmb, 0n, "no ambient capabilities, as under Kubernetes");
    t.equal(facts.noNewPrivs, "1", "no_new_privs (allowPrivilegeEscalation: false)");
  },
);

t.test("without NET_RAW in the container, the agent starts, serves, and says it cannot probe", async (t) => {
  const { node1 } = await twoNodes(t, "imgn");
  const tag = image as string;
  const mount = await podman(["image", "mount", tag]);
  t.teardown(() => podman(["image", "unmount", tag]));
  const ctr = runcRun(t, `${node1.ns}-n`, ociConfig(mount.stdout.trim(), node1.nsPath, [], AGENT_ARGS));
  let metrics = "";
  await waitUntil(
    "wireprobe_agent_errors_total{kind=privilege}",
    async () => {
      metrics = await scrape(node1, "/metrics");
      return /^wireprobe_agent_errors_total\{[^}]*kind="privilege"[^}]*\} [1-9]/m.test(metrics);
    },
    60_000,
    ctr.output,
  );
  t.match(metrics, /^wireprobe_agent_healthy\{[^}]*node="node1"[^}]*\} 0$/m, "the agent is unhealthy");
  t.notMatch(metrics, /^wireprobe_peer_adjacent\{/m, "and claims no adjacency it could not measure");
  const health = await node1.exec(
    "curl",
    ["-s", "-S", "--max-time", "5", "-w", "\n%{http_code}", "http://198.51.100.10:9474/healthz"],
    { reject: false },
  );
  // The body (one line), then the status code that -w writes after it.
  const lines = health.stdout.trim().split("\n");
  const reason = lines[0] ?? "";
  const status = lines.at(-1);
  t.equal(status, "503", "/healthz answers 503");
  t.match(reason, /^cannot probe \(privilege\): .*(CAP_NET_RAW|not permitted)/, `with the reason: ${reason}`);
  const state = JSON.parse((await run("runc", ["state", `${node1.ns}-n`])).stdout) as { pid: number };
  t.equal(processFacts(state.pid).capEff, 0n, "no capability at all");
});
