// Loads the compiled addon and types it. Everything that touches the kernel goes through `native`.
import * as fs from "node:fs";
import * as path from "node:path";
import { EnvironmentError } from "../errors";
import { unpackRoutes, unpackRoutesAsync } from "./packed";
import type { AddonBinding, NativeBinding, RouteEntry } from "./types";

export * from "./types";

// src/native and dist/native are both two levels below the package root.
const packageRoot = path.resolve(__dirname, "..", "..");

/** node-gyp-build's two calls used here (the package has no type declarations). */
interface NodeGypBuild {
  /** The addon for this process: build/Release, build/Debug, else the best fitting prebuilds/PLATFORM-ARCH/*.node. */
  path(dir: string): string;
}
const nodeGypBuild = require("node-gyp-build") as NodeGypBuild;

/** What building from source takes, and the command that does it (in an installed package or in a clone). */
function buildAdvice(): string {
  const installed = path.basename(path.dirname(packageRoot)) === "node_modules";
  const command = installed ? "npm rebuild wireprobe" : `npm install in ${packageRoot}`;
  return `build it from source with ${command} (needs a C++17 compiler, make and python3)`;
}

/** The addon's file: one built here (node-gyp), or the prebuilt one for this platform the package ships. */
function addonFile(): string {
  try {
    return nodeGypBuild.path(packageRoot);
  } catch (err) {
    // node-gyp-build found neither a build nor a prebuild that fits (another CPU or libc than those shipped).
    const libc = fs.existsSync("/etc/alpine-release") ? "musl" : "glibc";
    throw new EnvironmentError(
      `no native addon for ${process.platform}-${process.arch} (${libc}) in ${packageRoot}: ${buildAdvice()}`,
      "ENOADDON",
      { cause: err },
    );
  }
}

/** The addon's file, chosen by node-gyp-build: what `native` is made of (and what tests load in child processes). */
export const addonPath: string = addonFile();

function loadAddon(): AddonBinding {
  try {
    return require(addonPath) as AddonBinding;
  } catch (err) {
    // A prebuild that fits by name but not by system (an older glibc than it was linked against, say).
    const reason = String((err as Error).message).split("\n")[0];
    throw new EnvironmentError(
      `the native addon ${addonPath} does not load: ${reason}; ${buildAdvice()}`,
      "ENOADDON",
      {
        cause: err,
      },
    );
  }
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
