import * as fs from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { promisify } from "node:util";
import { randomBytes } from "../engine/random";
import { EnvironmentError, UsageError } from "../errors";
import { safeWrite } from "./ndjson";

// Opening the files a user names for an output (-oX FILE, --junit FILE), as nmap does: written where the user
// points. A regular file (or a new one) is written to a temporary file next to it and renamed over it when
// complete, so a reader never sees half a file; anything else (a device, a FIFO, a symbolic link, /dev/fd/N
// from a shell's process substitution) is opened and written in place, never replaced.

/** An output as named on the command line: `option` says which, for the error messages. */
export interface OutputRequest {
  option: string;
  path: string;
}

/** How one output will be written, decided before anything is probed. */
export type OutputPlan =
  | { option: string; path: string; how: "stdout" }
  | {
      option: string;
      path: string;
      /** a regular file or a new one: a temporary file in `dir`, renamed over `path` */
      how: "replace";
      dir: string;
      /** the replaced file's permissions and owner, kept */
      existing: { mode: number; uid: number; gid: number } | null;
    }
  /** a character device, FIFO or symbolic link: opened and written where it is */
  | { option: string; path: string; how: "in-place" };

/** Names that mean this process's standard output: the same as "-" (the report then does not go there). */
const STDOUT_NAMES = new Set([
  "-",
  "/dev/stdout",
  "/dev/fd/1",
  "/proc/self/fd/1",
  "/proc/thread-self/fd/1",
  `/proc/${process.pid}/fd/1`,
]);

function fail(path: string, why: string): never {
  throw new UsageError(`cannot write ${path}: ${why}`);
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "ENOENT":
      return "no such file or directory";
    case "ENOTDIR":
      return "a component of the path is not a directory";
    case "ELOOP":
      return "too many levels of symbolic links";
    case "ENAMETOOLONG":
      return "file name too long";
    case "ENOSPC":
      return "no space left on device";
    default:
      return e.message ?? String(err);
  }
}

function statOrNull(path: string, follow: boolean): fs.Stats | null {
  try {
    return follow ? fs.statSync(path) : fs.lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    fail(path, reason(err));
  }
}

function mustAccess(path: string, shown: string, mode: number): void {
  try {
    fs.accessSync(path, mode);
  } catch (err) {
    fail(shown, reason(err));
  }
}

/** What one path is and how it will be written; throws a UsageError for what cannot be written. */
function planOne(option: string, path: string): { plan: OutputPlan; identity: string | null } {
  if (STDOUT_NAMES.has(path)) return { plan: { option, path, how: "stdout" }, identity: "stdout" };
  if (path === "") throw new UsageError(`${option} needs a file name`);
  const link = statOrNull(path, false);
  const st = link?.isSymbolicLink() ? statOrNull(path, true) : link;
  if (link !== null && st === null) {
    // Written through, it would create a file wherever the link points: refused, as a link planted in a
    // shared directory is the classic way to make a root process write where it should not.
    fail(path, "a symbolic link to nothing");
  }
  if (st?.isDirectory()) fail(path, "is a directory");
  if (st?.isSocket()) fail(path, "is a socket");
  if (st?.isBlockDevice()) fail(path, "is a block device (not overwritten)");
  if (st !== null && link !== null && (link.isSymbolicLink() || !st.isFile())) {
    mustAccess(path, path, fs.constants.W_OK);
    // Character devices (/dev/null, a terminal) may take several outputs; a FIFO or file may not.
    const identity = st.isCharacterDevice() ? null : `${st.dev}:${st.ino}`;
    return { plan: { option, path, how: "in-place" }, identity };
  }
  const dir = dirname(path);
  const dirStat = statOrNull(dir, true);
  if (dirStat === null) fail(path, `no such directory ${dir}`);
  if (!dirStat.isDirectory()) fail(path, `${dir} is not a directory`);
  mustAccess(dir, path, fs.constants.W_OK | fs.constants.X_OK);
  if (st !== null) {
    mustAccess(path, path, fs.constants.W_OK);
    return {
      plan: { option, path, how: "replace", dir, existing: { mode: st.mode, uid: st.uid, gid: st.gid } },
      identity: `${st.dev}:${st.ino}`,
    };
  }
  return {
    plan: { option, path, how: "replace", dir, existing: null },
    identity: `new:${resolve(fs.realpathSync(dir), basename(path))}`,
  };
}

/**
 * Checks every output before the first probe: a directory, a missing or unwritable directory, a socket,
 * a dangling link or the same file named twice (also through a link, or as the file stdout goes to) is a
 * UsageError (exit 2). Creates nothing.
 */
export function planOutputs(requests: readonly OutputRequest[]): OutputPlan[] {
  const seen = new Map<string, string>();
  try {
    const out = fs.fstatSync(1);
    // Renaming a new file over the file stdout writes to would lose one of the two.
    if (out.isFile()) seen.set(`${out.dev}:${out.ino}`, "stdout");
  } catch {
    // no stdout
  }
  return requests.map(({ option, path }) => {
    const { plan, identity } = planOne(option, path);
    if (identity !== null && identity !== "stdout") {
      const other = seen.get(identity);
      if (other !== undefined) {
        throw new UsageError(`${option} ${path} is the same file as ${other}: give each output its own file`);
      }
      seen.set(identity, `${option} ${path}`);
    }
    return plan;
  });
}

const openAsync = promisify(fs.open);

/** Temporary files not yet renamed or removed: removed at exit too (a second Ctrl-C exits at once). */
const pendingTemps = new Set<string>();
let exitHookInstalled = false;

function removeTempsAtExit(): void {
  for (const temp of pendingTemps) {
    try {
      fs.unlinkSync(temp);
    } catch {
      // gone already
    }
  }
}

function createTemp(plan: Extract<OutputPlan, { how: "replace" }>): { fd: number; temp: string } {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  for (let attempt = 0; ; attempt++) {
    // Unpredictable and created exclusively: nobody can plant a link under this name beforehand.
    const temp = resolve(
      plan.dir,
      `.${basename(plan.path).slice(0, 200)}.${randomBytes(8).toString("hex")}.tmp`,
    );
    try {
      const fd = fs.openSync(temp, flags, 0o666);
      if (!exitHookInstalled) {
        exitHookInstalled = true;
        process.on("exit", removeTempsAtExit);
      }
      pendingTemps.add(temp);
      return { fd, temp };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST" && attempt < 10) continue;
      fail(plan.path, reason(err));
    }
  }
}

/** One output file being written: `stream` takes the text, then `commit()` or `discard()`. */
export class OutputFile {
  readonly stream: Writable;
  private failure: NodeJS.ErrnoException | null = null;
  private live = true;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    /** the temporary file renamed over `path` at the end, or null when written in place */
    private readonly temp: string | null,
  ) {
    this.stream = fs.createWriteStream(path, { fd, autoClose: false });
    // A write error (a full disk, a FIFO's reader gone) ends this output, not the process.
    this.stream.on("error", (err: NodeJS.ErrnoException) => {
      this.failure ??= err;
    });
  }

  /** Creates the temporary file, or opens the device/FIFO/link in place (a FIFO waits for its reader). */
  static async open(plan: Exclude<OutputPlan, { how: "stdout" }>): Promise<OutputFile> {
    if (plan.how === "replace") {
      const { fd, temp } = createTemp(plan);
      if (plan.existing !== null) {
        try {
          if (process.geteuid?.() === 0) fs.fchownSync(fd, plan.existing.uid, plan.existing.gid);
          fs.fchmodSync(fd, plan.existing.mode & 0o777);
        } catch {
          // the permissions of a new file then
        }
      }
      return new OutputFile(plan.path, fd, temp);
    }
    let fd: number;
    try {
      fd = await openAsync(plan.path, fs.constants.O_WRONLY | fs.constants.O_NOCTTY);
    } catch (err) {
      fail(plan.path, reason(err));
    }
    // Through a link to a regular file, the file is rewritten like nmap does; devices and FIFOs have nothing
    // to truncate.
    if (fs.fstatSync(fd).isFile()) fs.ftruncateSync(fd, 0);
    return new OutputFile(plan.path, fd, null);
  }

  /**
   * Ends the output: a temporary file is renamed over the path (synced first when it replaces a file). A write error is an
   * EnvironmentError (exit 3) and leaves the old file as it was; a FIFO or pipe whose reader went away
   * (EPIPE) is the reader's choice, not an error.
   */
  async commit(): Promise<void> {
    if (!this.live) return;
    if (this.failure === null) {
      this.stream.end();
      try {
        await finished(this.stream);
      } catch (err) {
        this.failure ??= err as NodeJS.ErrnoException;
      }
    }
    if (this.failure !== null) {
      const err = this.failure;
      this.discard();
      if (this.temp === null && err.code === "EPIPE") return;
      throw new EnvironmentError(`cannot write ${this.path}: ${reason(err)}`, err.code);
    }
    this.live = false;
    try {
      // The sync makes the rename durable only after the data is: a crash then leaves the old file or the new
      // one, never an empty one in its place. With no old file there is nothing to lose (nmap never syncs),
      // and a sync costs tens of milliseconds, a third of a short scan.
      if (this.temp !== null && fs.existsSync(this.path)) fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      if (this.temp !== null) {
        fs.renameSync(this.temp, this.path);
        pendingTemps.delete(this.temp);
      }
    } catch (err) {
      this.removeTemp();
      throw new EnvironmentError(
        `cannot write ${this.path}: ${reason(err)}`,
        (err as { code?: string }).code,
      );
    }
  }

  /** Drops the output: the temporary file is removed, the path is left as it was. */
  discard(): void {
    if (this.live) {
      this.live = false;
      this.stream.destroy();
      try {
        fs.closeSync(this.fd);
      } catch {
        // closed already
      }
    }
    this.removeTemp();
  }

  private removeTemp(): void {
    if (this.temp === null || !pendingTemps.has(this.temp)) return;
    pendingTemps.delete(this.temp);
    try {
      fs.unlinkSync(this.temp);
    } catch {
      // gone already
    }
  }
}

/** Opens every planned file output; if one fails, the others are discarded and nothing is left behind. */
export async function openOutputs(
  plans: readonly Exclude<OutputPlan, { how: "stdout" }>[],
): Promise<OutputFile[]> {
  const files: OutputFile[] = [];
  try {
    for (const plan of plans) files.push(await OutputFile.open(plan));
    return files;
  } catch (err) {
    for (const f of files) f.discard();
    throw err;
  }
}

/** Writes one whole text to a planned output (stdout, or a file opened and committed now). */
export async function writeOutput(plan: OutputPlan, stdout: Writable, text: string): Promise<void> {
  if (plan.how === "stdout") {
    safeWrite(stdout, text);
    return;
  }
  const file = await OutputFile.open(plan);
  try {
    safeWrite(file.stream, text);
    await file.commit();
  } finally {
    file.discard();
  }
}
