// Without privilege, --netns fails for want of CAP_SYS_ADMIN (entering a namespace), not CAP_NET_RAW: every
// command says which, with exit 3 and one line. setpriv's uid 65534 is the unprivileged user; nsenter, also
// unprivileged, is the oracle for what the kernel refuses.

import { execFile } from "node:child_process";
import t from "tap";
import { NOBODY, unprivilegedBin } from "./helpers/cli";
import { withLab } from "./helpers/lab";

function asNobody(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // `env -i`: tap's process hooks put NODE_OPTIONS into every child, and would write files as nobody.
  return new Promise((resolve) => {
    execFile(
      "setpriv",
      [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        "env",
        "-i",
        `PATH=${process.env.PATH ?? "/usr/bin:/bin"}`,
        ...args,
      ],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
      },
    );
  });
}

t.test("--netns without privilege: entering the namespace needs CAP_SYS_ADMIN", async (t) => {
  const lab = await withLab(t, "nsperm");
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  const bin = unprivilegedBin();

  const oracle = await asNobody(["nsenter", `--net=${node.nsPath}`, "true"]);
  t.not(oracle.code, 0, "nsenter: the kernel refuses uid 65534 entry into the namespace");
  t.match(oracle.stderr, /Operation not permitted/);

  const commands: string[][] = [
    ["arp", "198.51.100.11"],
    ["scan", "-p", "22", "198.51.100.11"],
    ["scan", "-sT", "-p", "22", "198.51.100.11"],
    ["ping", "-c", "1", "198.51.100.11"],
    ["dns", "--server", "198.51.100.11", "example.lab"],
    ["dns", "--tcp", "--server", "198.51.100.11", "example.lab"],
    ["check", "--nodes", "198.51.100.11", "--dns", "198.51.100.11"],
  ];
  for (const [command, ...rest] of commands) {
    const what = `${command} ${rest.join(" ")}`;
    const r = await asNobody([process.execPath, bin, command!, "--netns", node.ns, ...rest]);
    t.equal(r.code, 3, `${what}: exit 3 (${r.stderr.trim()})`);
    t.match(
      r.stderr,
      `wireprobe: entering the network namespace ${node.nsPath} needs root (CAP_SYS_ADMIN) (EPERM)\n`,
      `${what}: says what entering the namespace needs`,
    );
    t.notMatch(r.stderr, /CAP_NET_RAW|ping_group_range/, `${what}: not the raw-socket privilege`);
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  }
});

t.test(
  "--netns naming another process's namespace file, without privilege: the privilege, not 'unknown'",
  async (t) => {
    const r = await asNobody([
      process.execPath,
      unprivilegedBin(),
      "arp",
      "--netns",
      "/proc/1/ns/net",
      "198.51.100.1",
    ]);
    t.equal(r.code, 3, r.stderr.trim());
    t.match(
      r.stderr,
      "wireprobe: entering the network namespace /proc/1/ns/net needs root (CAP_SYS_ADMIN) (EACCES)\n",
    );
    t.notMatch(r.stderr, /unknown network namespace/);
  },
);
