// Running external commands for the lab builder: always execFile / execFileSync with an argument vector,
// never a shell, so no argument is ever re-parsed.

import { type ChildProcess, execFile, execFileSync } from "node:child_process";

/** What a finished command left behind. */
export interface ExecResult {
  /** exit status; null when the process was ended by a signal (see `signal`) */
  code: number | null;
  /** the signal that ended the process, null when it exited by itself */
  signal: NodeJS.Signals | null;
  /** true when the process was killed because `timeoutMs` passed */
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** kill the command (SIGKILL) after this many milliseconds; 0 = never. Default 30 000. */
  timeoutMs?: number;
  /** written to the command's stdin, which is then closed (stdin is always closed, so nothing waits on it) */
  input?: string | Buffer;
  /**
   * false: return the result even when the command fails (non-zero exit, signal, timeout) instead of
   * throwing. Failing to start the command at all (e.g. ENOENT) still throws. Default true.
   */
  reject?: boolean;
  /** extra environment variables on top of process.env */
  env?: NodeJS.ProcessEnv;
  /** called with the child right after it was started (used to track it for cleanup) */
  onSpawn?: (child: ChildProcess) => void;
}

/** Thrown when a command fails; the message names the command, its exit status and its stderr. */
export class ExecError extends Error {
  override name = "ExecError";
  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
    readonly result: ExecResult,
    reason?: string,
  ) {
    super(
      `Command failed (${reason ?? describeStatus(result)}): ${formatCommand(cmd, args)}` +
        (result.stderr.trim() ? `\nstderr: ${result.stderr.trim()}` : "") +
        (!result.stderr.trim() && result.stdout.trim() ? `\nstdout: ${result.stdout.trim()}` : ""),
    );
  }
}

/** Default timeout for commands, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_BUFFER = 64 * 1024 * 1024;

/** `cmd arg1 "arg with space"`: a command line for messages (quoted for reading, never executed). */
export function formatCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
}

function describeStatus(r: ExecResult): string {
  if (r.timedOut) return "timed out";
  if (r.signal) return `killed by ${r.signal}`;
  return `exit ${r.code}`;
}

/**
 * Runs `cmd args...` (no shell) and resolves with its result once the command exited and its output was
 * read to the end (so a daemon that keeps the command's stdout open delays the result until the timeout;
 * start such commands with stdio "ignore" via spawn instead). Rejects with an {@link ExecError} when the
 * command exits non-zero, is killed or times out, unless `reject: false`; rejects with an Error naming the
 * command when it cannot be started at all.
 */
export function run(cmd: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const child = execFile(
      cmd,
      args,
      {
        encoding: "utf8",
        maxBuffer: MAX_BUFFER,
        env: options.env ? { ...process.env, ...options.env } : process.env,
      },
      (error, stdout, stderr) => {
        if (timer) clearTimeout(timer);
        const err = error as (NodeJS.ErrnoException & { code?: unknown }) | null;
        if (err && typeof err.code === "string" && err.code !== "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") {
          // could not start (ENOENT, EACCES, ...)
          reject(new Error(`Cannot run ${formatCommand(cmd, args)}: ${err.message}`));
          return;
        }
        const result: ExecResult = {
          code: child.exitCode,
          signal: child.signalCode,
          timedOut,
          stdout: String(stdout),
          stderr: String(stderr),
        };
        if (err && result.code === 0 && !result.signal) {
          // e.g. output larger than maxBuffer
          reject(new ExecError(cmd, args, result, err.message));
          return;
        }
        if (options.reject !== false && (result.code !== 0 || result.signal !== null || timedOut)) {
          reject(new ExecError(cmd, args, result));
          return;
        }
        resolve(result);
      },
    );
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
        // a background process the command left behind may still hold its stdout/stderr open, which would
        // keep execFile waiting for "close" forever: stop reading once the command itself is gone
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, 200).unref();
      }, timeoutMs);
    }
    child.stdin?.on("error", () => {
      // the command may exit without reading its input (EPIPE); its exit status tells the story
    });
    child.stdin?.end(options.input ?? undefined);
    options.onSpawn?.(child);
  });
}

/**
 * Synchronous {@link run} for exit and signal handlers, where nothing asynchronous can run any more.
 * Same error behaviour.
 */
export function runSync(
  cmd: string,
  args: readonly string[],
  options: Omit<ExecOptions, "onSpawn"> = {},
): ExecResult {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let result: ExecResult;
  try {
    const stdout = execFileSync(cmd, args, {
      encoding: "utf8",
      maxBuffer: MAX_BUFFER,
      input: options.input ?? "",
      stdio: ["pipe", "pipe", "pipe"],
      timeout: timeoutMs > 0 ? timeoutMs : undefined,
      killSignal: "SIGKILL",
      env: options.env ? { ...process.env, ...options.env } : process.env,
    });
    return { code: 0, signal: null, timedOut: false, stdout, stderr: "" };
  } catch (error) {
    const err = error as NodeJS.ErrnoException & {
      status?: number | null;
      signal?: NodeJS.Signals | null;
      stdout?: string | Buffer;
      stderr?: string | Buffer;
    };
    if (typeof err.code === "string" && err.code !== "ETIMEDOUT") {
      // could not start (ENOENT, EACCES, ...)
      throw new Error(`Cannot run ${formatCommand(cmd, args)}: ${err.message}`);
    }
    result = {
      code: err.status ?? null,
      signal: err.signal ?? null,
      timedOut: err.code === "ETIMEDOUT",
      stdout: String(err.stdout ?? ""),
      stderr: String(err.stderr ?? ""),
    };
  }
  if (options.reject !== false) throw new ExecError(cmd, args, result);
  return result;
}
