// Last-resort cleanup: the labs still alive when the process exits or is killed by a signal are destroyed
// synchronously, so even an interrupted test or demo leaves no namespace behind. (SIGKILL cannot be caught:
// sweepStaleLabs() handles what that leaves.)

/** What the hooks need from a lab. */
export interface SyncDestroyable {
  readonly prefix: string;
  destroySync(): Error[];
}

const live = new Set<SyncDestroyable>();
const HANDLED_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGALRM"];
const signalHandlers = new Map<NodeJS.Signals, () => void>();
let exitHookInstalled = false;

/** Destroys every live lab synchronously, reporting errors on stderr. */
export function destroyLiveLabsSync(): void {
  for (const lab of [...live]) {
    let errors: Error[];
    try {
      errors = lab.destroySync();
    } catch (err) {
      errors = [err as Error];
    }
    for (const err of errors) process.stderr.write(`wireprobe lab ${lab.prefix}: cleanup: ${err.message}\n`);
    live.delete(lab);
  }
}

function onExit(): void {
  destroyLiveLabsSync();
}

function installSignalHandler(sig: NodeJS.Signals): void {
  if (signalHandlers.has(sig)) return;
  const handler = (): void => {
    destroyLiveLabsSync();
    // Step aside, then let the signal have its usual effect: if somebody else listens (e.g. tap's
    // signal-exit, which only acts when it is the sole listener), they now handle it; otherwise re-raise
    // it so the default action (termination) happens.
    process.removeListener(sig, handler);
    signalHandlers.delete(sig);
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  signalHandlers.set(sig, handler);
  // first in line, so the labs are gone before any other handler decides to exit
  process.prependListener(sig, handler);
}

/** Registers a live lab (and installs the exit and signal hooks if they are not in place). */
export function registerLiveLab(lab: SyncDestroyable): void {
  live.add(lab);
  if (!exitHookInstalled) {
    process.on("exit", onExit);
    exitHookInstalled = true;
  }
  for (const sig of HANDLED_SIGNALS) installSignalHandler(sig);
}

/** Forgets a lab that was destroyed. The hooks stay installed (they are cheap and idempotent). */
export function unregisterLiveLab(lab: SyncDestroyable): void {
  live.delete(lab);
}

/** The prefixes of the labs of this process that are not destroyed yet. */
export function liveLabPrefixes(): string[] {
  return [...live].map((lab) => lab.prefix);
}
