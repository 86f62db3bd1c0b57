// Who owns a lab: one small file per lab prefix under /run/wireprobe-labs, written before the lab creates
// its first namespace, so a namespace whose owner is gone can be recognised as stale and swept.
//
// File format (/run/wireprobe-labs/<prefix>), one key=value a line, readable from shell scripts too:
//   pid=<creating process id>
//   start=<its start time in clock ticks since boot, field 22 of /proc/PID/stat; guards against pid reuse>
//   run=<$WIREPROBE_LAB_RUN_ID of the creator, empty when unset; lets scripts/test.sh find its own labs>
//   name=<the lab name given to Lab.create>
//   created=<ISO timestamp>
//   kept=1 (optional: left up on purpose, removed only by an explicit sweep with includeKept)

import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LAB_NS_PATTERN, labPrefixOf } from "./names";
import { deleteNamespace, listNamespaces, processStartTime } from "./netns";

/** Directory of the owner files. */
export const OWNER_DIR = "/run/wireprobe-labs";

/** Environment variable whose value is recorded as `run=` in owner files. */
export const RUN_ID_ENV = "WIREPROBE_LAB_RUN_ID";

export interface OwnerRecord {
  prefix: string;
  pid: number;
  start: string;
  run: string;
  name: string;
  created: string;
  /** left up on purpose (`wireprobe demo --keep`): not stale when its creator is gone */
  kept: boolean;
}

function ownerPath(prefix: string): string {
  if (!/^wp[a-z0-9]*-[0-9a-f]{4}$/.test(prefix))
    throw new Error(`not a lab prefix: ${JSON.stringify(prefix)}`);
  return join(OWNER_DIR, prefix);
}

/**
 * Claims `prefix` for this process by creating its owner file exclusively. Returns false when the prefix is
 * already taken (by a live or dead lab), so the caller picks another one.
 */
export function claimPrefix(prefix: string, name: string): boolean {
  mkdirSync(OWNER_DIR, { recursive: true, mode: 0o755 });
  const text =
    `pid=${process.pid}\nstart=${processStartTime(process.pid) ?? ""}\n` +
    `run=${(process.env[RUN_ID_ENV] ?? "").replace(/\s/g, "")}\nname=${name.replace(/\s/g, "")}\n` +
    `created=${new Date().toISOString()}\n`;
  try {
    writeFileSync(ownerPath(prefix), text, { flag: "wx", mode: 0o644 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

/** Reads the owner record of a lab prefix, null when there is none (or it is unreadable). */
export function readOwner(prefix: string): OwnerRecord | null {
  let text: string;
  try {
    text = readFileSync(ownerPath(prefix), "utf8");
  } catch {
    return null;
  }
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const pid = Number(fields.get("pid"));
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return {
    prefix,
    pid,
    start: fields.get("start") ?? "",
    run: fields.get("run") ?? "",
    name: fields.get("name") ?? "",
    created: fields.get("created") ?? "",
    kept: fields.get("kept") === "1",
  };
}

/** True while the process that wrote the record is still running (same pid and same start time). */
export function ownerAlive(owner: OwnerRecord): boolean {
  const start = processStartTime(owner.pid);
  return start !== null && (owner.start === "" || start === owner.start);
}

/** Marks a lab as left up on purpose, so sweeps of stale labs leave it alone. */
export function markKept(prefix: string): void {
  appendFileSync(ownerPath(prefix), "kept=1\n");
}

/** Deletes the owner file of a prefix (no error when it is already gone). */
export function releasePrefix(prefix: string): void {
  rmSync(ownerPath(prefix), { force: true });
}

export interface SweepResult {
  /** stale namespaces that were deleted */
  removed: string[];
  /** matching namespaces left alone because their lab's creator is still running */
  kept: string[];
  /** what went wrong while deleting (the sweep carries on past errors) */
  errors: Error[];
}

/**
 * Deletes leftover lab namespaces whose creating process is gone: namespaces matching `pattern` (and always
 * the lab naming `wp<name>-<4 hex>-<host>`, so nothing else can ever be deleted) whose owner file is
 * missing or names a process that no longer runs. Processes still inside them are killed first. Owner
 * files of dead labs are removed as well. Never throws.
 *
 * Labs of live processes (including this one) are never touched.
 *
 * @param pattern extra filter on namespace names, e.g. /^wpdemo-/ ; default {@link LAB_NS_PATTERN}
 * @param options includeKept: also remove labs left up on purpose (Lab.keep), whoever created them
 */
export async function sweepStaleLabs(
  pattern: RegExp = LAB_NS_PATTERN,
  options: { includeKept?: boolean } = {},
): Promise<SweepResult> {
  const result: SweepResult = { removed: [], kept: [], errors: [] };
  const stalePrefixes = new Set<string>();
  const matches = (ns: string): boolean => {
    pattern.lastIndex = 0; // a /g or /y pattern keeps state between test() calls
    return pattern.test(ns);
  };
  const isStale = (prefix: string): boolean => {
    const owner = readOwner(prefix);
    if (owner?.kept) return options.includeKept === true;
    return !(owner && ownerAlive(owner));
  };
  let names: string[];
  try {
    names = listNamespaces();
  } catch (err) {
    result.errors.push(err as Error);
    return result;
  }
  for (const ns of names) {
    const prefix = labPrefixOf(ns);
    if (!prefix || !matches(ns)) continue;
    if (!isStale(prefix)) {
      result.kept.push(ns);
      continue;
    }
    stalePrefixes.add(prefix);
    try {
      await deleteNamespace(ns);
      result.removed.push(ns);
    } catch (err) {
      result.errors.push(err as Error);
    }
  }
  // owner files of dead labs with no namespace left (e.g. a lab killed between claim and first namespace)
  let ownerFiles: string[] = [];
  try {
    ownerFiles = readdirSync(OWNER_DIR);
  } catch {
    // no directory, nothing to do
  }
  for (const prefix of ownerFiles) {
    if (/^wp[a-z0-9]*-[0-9a-f]{4}$/.test(prefix) && matches(`${prefix}-sw`) && isStale(prefix)) {
      stalePrefixes.add(prefix);
    }
  }
  const remaining = listNamespaces();
  for (const prefix of stalePrefixes) {
    if (remaining.some((ns) => labPrefixOf(ns) === prefix)) continue;
    try {
      releasePrefix(prefix);
    } catch (err) {
      result.errors.push(err as Error);
    }
  }
  return result;
}
