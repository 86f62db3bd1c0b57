// The package as a user gets it: the checkout packed with `npm pack`, installed into fresh projects, with or
// without a compiler on PATH. For test/consumer.test.ts and test/arm64.test.ts.

import { execFile, execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";

export const ROOT = join(__dirname, "..", "..");

export interface RunResult {
  /** exit status; null when a signal ended it */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command (no shell) with exactly `env`, and resolves with its outcome, whatever it is. */
export function run(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 600_000,
        maxBuffer: 64 << 20,
        encoding: "utf8",
      },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
        resolve({
          code: e === null ? 0 : typeof e.code === "number" ? e.code : null,
          signal: e?.signal ?? null,
          stdout,
          stderr: typeof e?.code === "string" ? `${stderr}${e.message}\n` : stderr,
        });
      },
    );
  });
}

/** The last lines of a command's output, for a failure message. */
export function tail(r: RunResult, lines = 25): string {
  return `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-lines).join("\n");
}

/**
 * process.env without the variables npm sets for the script it runs (`npm test`): a nested npm would read
 * them as its own configuration (npm_config_*) and the project's (npm_package_*), not the fresh project's.
 */
export function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== "INIT_CWD") env[key] = value;
  }
  return { ...env, ...extra };
}

/** npm's own script, run with this Node, so that npm works under a PATH that holds nothing but Node. */
export const NPM_CLI: string = realpathSync(
  execFileSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).trim(),
);

export function npm(
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  return run(process.execPath, [NPM_CLI, ...args], { env: userEnv(), ...options });
}

/** Build tools whose absence the no-compiler PATH is checked for. */
export const BUILD_TOOLS = ["cc", "gcc", "g++", "c++", "clang", "clang++", "make", "python3", "python"];

/**
 * A PATH of one directory, `dir`, holding sh, node, npm and npx and nothing else: what a slim image with Node
 * has, no compiler, make or python. (npm runs scripts with the `sh` on PATH and adds its own directories.)
 */
export function nodeOnlyPath(dir: string): string {
  mkdirSync(dir, { recursive: true });
  symlinkSync("/bin/sh", join(dir, "sh"));
  symlinkSync(process.execPath, join(dir, "node"));
  symlinkSync(NPM_CLI, join(dir, "npm"));
  const npx = join(dirname(NPM_CLI), "npx-cli.js");
  if (existsSync(npx)) symlinkSync(npx, join(dir, "npx"));
  return dir;
}

/** Whether `command -v NAME` finds it under this PATH. */
export function onPath(name: string, path: string): boolean {
  return (
    execFileSyncStatus("/bin/sh", ["-c", `command -v "$1"`, "sh", name], { ...userEnv(), PATH: path }) === 0
  );
}

function execFileSyncStatus(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  try {
    execFileSync(cmd, args, { env, stdio: "ignore" });
    return 0;
  } catch (err) {
    return (err as { status?: number }).status ?? 1;
  }
}

/** What a build or a run adds to a clone (top-level names): not copied into the checkout that gets packed. */
const NOT_SOURCE = new Set(["node_modules", ".git", "build", "dist", "prebuilds", ".tap", "coverage"]);

/**
 * Packs the checkout as `npm pack` does for a publish, into `work`, and resolves with the tarball's path.
 * It packs a copy (sources only, the checkout's node_modules linked in): `prepack` builds the prebuilds and
 * `prepare` compiles dist/ there, so the checkout's own dist/ and build/, which other tests load meanwhile,
 * stay as they are, and the tarball holds only what this pack built.
 */
export async function packCheckout(work: string): Promise<string> {
  const copy = join(work, "checkout");
  const source = (src: string) => !NOT_SOURCE.has(relative(ROOT, src).split(sep)[0] ?? "");
  cpSync(ROOT, copy, { recursive: true, filter: source });
  symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"), "dir");
  const r = await npm(["pack", "--pack-destination", work], { cwd: copy, timeoutMs: 20 * 60_000 });
  const name = r.stdout.trim().split("\n").pop() ?? "";
  if (r.code !== 0 || !name.endsWith(".tgz")) {
    throw new Error(`npm pack in a copy of the checkout failed (exit ${r.code ?? r.signal}):\n${tail(r)}`);
  }
  return join(work, name);
}

/** A fresh project directory with a package.json of its own, as `npm init -y` would leave it. */
export function freshProject(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const pkg = { name: "wireprobe-consumer", version: "1.0.0", private: true };
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  return dir;
}
