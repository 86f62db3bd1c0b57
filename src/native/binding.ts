// Loads the compiled addon and types it. Everything that touches the kernel goes through `native`.
import * as fs from "node:fs";
import * as path from "node:path";
import { unpackRoutes, unpackRoutesAsync } from "./packed";
import type { AddonBinding, NativeBinding, RouteEntry } from "./types";

export * from "./types";

// src/native and dist/native are both two levels below the package root.
const packageRoot = path.resolve(__dirname, "..", "..");

export const addonCandidates: readonly string[] = [
  path.join(packageRoot, "build", "Release", "wireprobe.node"),
  path.join(packageRoot, "build", "Debug", "wireprobe.node"),
];

function loadAddon(): AddonBinding {
  for (const file of addonCandidates) {
    if (fs.existsSync(file)) return require(file) as AddonBinding;
  }
  const error = new Error(
    `native addon not built: run npm install (looked for ${addonCandidates.join(" and ")})`,
  ) as NodeJS.ErrnoException;
  error.code = "ENOADDON";
  throw error;
}

const addon = loadAddon();

/** The addon's Netlink with its route dump made into RouteEntry objects (see packed.ts). */
class Netlink extends addon.Netlink {
  listRoutes(family?: 4 | 6): RouteEntry[] {
    return unpackRoutes(this.listRoutesPacked(family));
  }

  async listRoutesAsync(family?: 4 | 6): Promise<RouteEntry[]> {
    return unpackRoutesAsync(await this.listRoutesPackedAsync(family));
  }
}

export const native: NativeBinding = { ...addon, Netlink };

/** Directory where `ip netns add NAME` puts its namespace files. */
export const NETNS_RUN_DIR = "/run/netns";

/**
 * Maps a namespace name to its file in /run/netns; anything containing "/" is taken as a path
 * (e.g. /proc/PID/ns/net). Throws an Error with code "ENONS" when the file does not exist.
 */
export function resolveNetns(ns: string | undefined): string | undefined {
  if (ns === undefined) return undefined;
  const isPath = ns.includes("/");
  const file = isPath ? ns : path.join(NETNS_RUN_DIR, ns);
  let missing = ns === "" || (!isPath && (ns === "." || ns === ".."));
  if (!missing) {
    try {
      fs.statSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM") {
        // Not allowed to look at it (another process's /proc/PID/ns/net): entering it would need the same
        // privilege, so say that rather than "unknown".
        const error = new Error(`cannot open ${file} (${code})`) as NodeJS.ErrnoException;
        Object.assign(error, { code, syscall: "setns", path: file });
        throw error;
      }
      missing = true;
    }
  }
  if (missing) {
    const error = new Error(`unknown network namespace "${ns}"`) as NodeJS.ErrnoException;
    error.code = "ENONS";
    throw error;
  }
  return file;
}
