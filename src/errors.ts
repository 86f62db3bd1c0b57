// Errors that end a command with a specific exit code and a one-line message. Everything else is a bug.

/**
 * Bad usage or bad input: exit code 2. The probes throw it, before any packet is sent, for a target, port list
 * or option they cannot use; its message is one line naming what was wrong.
 *
 * @example
 * ```ts
 * import { UsageError, scan } from "wireprobe";
 *
 * try {
 *   for await (const r of scan(["198.51.100.300"], { ports: [22] })) console.log(r);
 * } catch (err) {
 *   if (!(err instanceof UsageError)) throw err;
 *   console.error(err.message); // invalid target "198.51.100.300": ...
 *   process.exitCode = err.exitCode; // 2
 * }
 * ```
 */
export class UsageError extends Error {
  /** the exit code the CLI ends with: 2 */
  readonly exitCode = 2;
  /** "UsageError" */
  override name = "UsageError";
}

/**
 * Missing privilege or environment (not root, unknown interface or namespace, an interface that went away or
 * refuses packets): exit code 3. `cause` keeps the error it came from (the addon's, with errno and syscall).
 *
 * @example
 * ```ts
 * import { EnvironmentError, arp } from "wireprobe";
 *
 * try {
 *   for await (const r of arp(["198.51.100.1"], { netns: "no-such-namespace" })) console.log(r);
 * } catch (err) {
 *   if (!(err instanceof EnvironmentError)) throw err;
 *   console.error(err.message, err.code); // network namespace: unknown network namespace "no-such-namespace" ENONS
 *   process.exitCode = err.exitCode; // 3
 * }
 * ```
 */
export class EnvironmentError extends Error {
  /** the exit code the CLI ends with: 3 */
  readonly exitCode = 3;
  /** "EnvironmentError" */
  override name = "EnvironmentError";
  /**
   * @param message one line a user can act on
   * @param code the errno name it comes from (`EPERM`, `ENODEV`, ...), when it comes from one
   * @param options `cause`: the error it came from
   */
  constructor(
    message: string,
    /** the errno name it comes from (`EPERM`, `ENODEV`, ...), when it comes from one */
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Maps an errno-carrying error from the addon to the message a user can act on. */
export function environmentErrorFrom(err: unknown, what: string): EnvironmentError | UsageError {
  // Already said in words a user can act on (a namespace that cannot be entered, a bad option).
  if (err instanceof EnvironmentError || err instanceof UsageError) return err;
  const e = err as { code?: string; message?: string; syscall?: string; path?: string };
  const cause = { cause: err };
  if ((e.code === "EPERM" || e.code === "EACCES") && e.syscall === "setns") {
    // Entering another network namespace takes CAP_SYS_ADMIN, whatever the probe would do inside it.
    const ns = e.path === undefined ? "another network namespace" : `the network namespace ${e.path}`;
    return new EnvironmentError(`entering ${ns} needs root (CAP_SYS_ADMIN) (${e.code})`, e.code, cause);
  }
  if (e.code === "EPERM" || e.code === "EACCES") {
    return new EnvironmentError(`${what}: needs root or CAP_NET_RAW (${e.code})`, e.code, cause);
  }
  if (e.code === "ENONS" || (e.code === "ENOENT" && /setns|netns|open/.test(e.message ?? ""))) {
    return new EnvironmentError(`${what}: ${e.message ?? "unknown network namespace"}`, e.code, cause);
  }
  if (e.code === "ENODEV") return new EnvironmentError(`${what}: no such interface`, e.code, cause);
  return new EnvironmentError(`${what}: ${e.message ?? String(err)}`, e.code, cause);
}
