// Named network namespaces (the /run/netns bind mounts that `ip netns` manages), and the processes in them.
// Every function here refuses names that are not lab namespaces.

import { readdirSync, readFileSync } from "node:fs";
import { run, runSync } from "./exec";
import { assertLabNamespace } from "./names";

/** Where `ip netns` keeps its namespace bind mounts. */
export const NETNS_DIR = "/run/netns";

/** Names of all named namespaces (what `ip netns list` shows), read straight from /run/netns. */
export function listNamespaces(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/** True when the named namespace exists. */
export function namespaceExists(ns: string): boolean {
  return listNamespaces().includes(ns);
}

/** `ip netns add NS` (a lab namespace only). */
export async function addNamespace(ns: string): Promise<void> {
  assertLabNamespace(ns);
  await run("ip", ["netns", "add", ns]);
}

/** Pids of the processes whose network namespace is `ns` (`ip netns pids`), never our own. */
export async function namespacePids(ns: string): Promise<number[]> {
  assertLabNamespace(ns);
  const r = await run("ip", ["netns", "pids", ns], { reject: false });
  return parsePids(r.stdout);
}

function namespacePidsSync(ns: string): number[] {
  assertLabNamespace(ns);
  return parsePids(runSync("ip", ["netns", "pids", ns], { reject: false }).stdout);
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** False once the process is gone or a zombie (a zombie holds no namespace any more). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), null when it is gone. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Blocks the thread for `ms` milliseconds (only for exit handlers, where nothing else can run). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** SIGTERM, then SIGKILL whatever is still alive after `graceMs`; resolves when all are gone (or 2 s more). */
export async function terminate(pids: readonly number[], graceMs = 1000): Promise<number[]> {
  for (const pid of pids) signal(pid, "SIGTERM");
  for (let waited = 0; waited < graceMs && pids.some(processAlive); waited += 20) await sleep(20);
  for (const pid of pids) if (processAlive(pid)) signal(pid, "SIGKILL");
  for (let waited = 0; waited < 2000 && pids.some(processAlive); waited += 10) await sleep(10);
  return pids.filter(processAlive);
}

/** Synchronous {@link terminate}, with a short grace (exit handlers must be quick). */
export function terminateSync(pids: readonly number[], graceMs = 200): number[] {
  for (const pid of pids) signal(pid, "SIGTERM");
  for (let waited = 0; waited < graceMs && pids.some(processAlive); waited += 10) sleepSync(10);
  for (const pid of pids) if (processAlive(pid)) signal(pid, "SIGKILL");
  for (let waited = 0; waited < 1000 && pids.some(processAlive); waited += 5) sleepSync(5);
  return pids.filter(processAlive);
}

/**
 * Ends every process still inside the lab namespace `ns`, then deletes it (`ip netns del`), which also
 * removes its interfaces (veths, bridges). A namespace that is already gone is not an error. Throws (after
 * deleting the name) when a process survives SIGKILL, since the namespace then lives on until it exits.
 */
export async function deleteNamespace(ns: string): Promise<void> {
  assertLabNamespace(ns);
  if (!namespaceExists(ns)) return;
  const left = await terminate(await namespacePids(ns));
  await run("ip", ["netns", "del", ns]);
  if (left.length) throw new Error(`processes ${left.join(", ")} in namespace ${ns} survived SIGKILL`);
}

/** Synchronous {@link deleteNamespace}. */
export function deleteNamespaceSync(ns: string): void {
  assertLabNamespace(ns);
  if (!namespaceExists(ns)) return;
  const left = terminateSync(namespacePidsSync(ns));
  runSync("ip", ["netns", "del", ns]);
  if (left.length) throw new Error(`processes ${left.join(", ")} in namespace ${ns} survived SIGKILL`);
}
