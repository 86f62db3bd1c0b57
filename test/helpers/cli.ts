// Where the tests find the CLI, for root and for an unprivileged user.

import { execFileSync, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";

const ROOT = join(__dirname, "..", "..");

/** The CLI of this checkout (dist/ is built fresh by `npm test` before the tests run). */
export const BIN = join(ROOT, "bin", "wireprobe.js");

/** uid and gid the privilege tests run as (nobody / nogroup) */
export const NOBODY = 65534;

let copied: string | null = null;

/** Can uid 65534 read the checkout's CLI? Not when it is cloned into a 0700 directory such as /root. */
function nobodyCanRead(file: string): boolean {
  try {
    execFileSync(
      "setpriv",
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "test", "-r", file],
      { stdio: "ignore" },
    );
    return true;
  } catch {
    return false;
  }
}

/**
 * The CLI for a test that runs it as uid 65534. When the checkout is not readable by other users (cloned as
 * root into a 0700 home), the runnable part of the package (package.json, bin, dist, the addon and the
 * runtime dependencies) is copied once per test process into a world-readable temporary directory, removed
 * when the process exits. Otherwise the checkout's own CLI.
 */
export function unprivilegedBin(): string {
  if (copied) return copied;
  if (nobodyCanRead(BIN)) {
    copied = BIN;
    return copied;
  }
  const dir = mkdtempSync(join(tmpdir(), "wireprobe-cli-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  // The addon the loader picks here (build/Release in a clone that built it, else this platform's prebuild).
  const addon = relative(ROOT, (require("node-gyp-build") as { path(dir: string): string }).path(ROOT));
  for (const part of ["package.json", "bin", "dist", addon]) {
    mkdirSync(dirname(join(dir, part)), { recursive: true });
    cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  }
  const deps = execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\n")
    .filter((p) => p.startsWith(join(ROOT, "node_modules")));
  for (const dep of deps) cpSync(dep, join(dir, dep.slice(ROOT.length + 1)), { recursive: true });
  // mkdtemp makes 0700, and a umask of 077 would hide the copies too.
  execFileSync("chmod", ["-R", "a+rX", dir]);
  copied = join(dir, "bin", "wireprobe.js");
  if (!nobodyCanRead(copied)) throw new Error(`uid ${NOBODY} cannot read the copied CLI in ${dir}`);
  return copied;
}

/**
 * The command prefix that runs what follows as uid 65534: `env -u NODE_OPTIONS` first, because the test
 * runner's process hooks put its NODE_OPTIONS (loaders living in the checkout, unreadable from a 0700 directory)
 * into every child's environment, whatever the spawn call passed.
 */
export const AS_NOBODY: readonly string[] = [
  "env",
  "-u",
  "NODE_OPTIONS",
  "setpriv",
  `--reuid=${NOBODY}`,
  `--regid=${NOBODY}`,
  "--clear-groups",
];

/** What a CLI run gave: its exit code (-1 when killed by the test's deadline) and its output. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `wireprobe ...args` inside namespace `ns`: as root (with NODE_OPTIONS cleared, so a test runner's
 * loader stays out of it), or, with `asUser` (such as AS_NOBODY), as that user on a copy it can read.
 * Killed after `timeoutMs`.
 */
export function runCli(
  ns: string,
  args: readonly string[],
  options: { asUser?: readonly string[]; timeoutMs?: number } = {},
): Promise<CliResult> {
  const user = options.asUser ?? [];
  const argv = [
    "netns",
    "exec",
    ns,
    ...(user.length > 0 ? user : ["env", "-u", "NODE_OPTIONS"]),
    process.execPath,
    user.length > 0 ? unprivilegedBin() : BIN,
    ...args,
  ];
  return runCommand(["ip", ...argv], options.timeoutMs);
}

/** Runs `argv` (no shell) and collects its exit code (-1 when killed after `timeoutMs`) and output. */
export function runCommand(argv: readonly string[], timeoutMs = 300_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
