import { EnvironmentError, UsageError } from "../errors";
import { getFlag, HELP_OPTION, parseArgs } from "./args";
import type { Command } from "./command";

interface CommandEntry {
  name: string;
  summary: string;
  /** loaded on use: a command's probe, codecs and outputs cost startup time only when it runs */
  load(): Command;
}

const commands: CommandEntry[] = [
  {
    name: "arp",
    summary: "ARP requests: layer-2 adjacency to gateways and peers",
    load: () => require("./commands/arp").arpCommand,
  },
  {
    name: "scan",
    summary: "TCP SYN port scan, nmap-compatible results and outputs",
    load: () => require("./commands/scan").scanCommand,
  },
  {
    name: "dns",
    summary: "DNS queries: which server answers, over UDP/TCP, and whether they agree",
    load: () => require("./commands/dns").dnsCommand,
  },
  {
    name: "ping",
    summary: "ICMP echo: reply, no-reply or unreachable (and who said so)",
    load: () => require("./commands/ping").pingCommand,
  },
  {
    name: "mtu",
    summary: "path MTU: the largest packet that gets through with DF, and black holes",
    load: () => require("./commands/mtu").mtuCommand,
  },
  {
    name: "routes",
    summary: "the routing tables' gateways: does each answer ARP/NDP, on-link, from one MAC",
    load: () => require("./commands/routes").routesCommand,
  },
  {
    name: "check",
    summary: "node network check: host-gw adjacency, nodePorts on every node, cluster DNS",
    load: () => require("./commands/check").checkCommand,
  },
  {
    name: "agent",
    summary: "run check in rounds and serve Prometheus metrics (a DaemonSet's container)",
    load: () => require("./commands/agent").agentCommand,
  },
  {
    name: "demo",
    summary: "build a lab cluster with the classic network failures and check it",
    load: () => require("./commands/demo").demoCommand,
  },
];

export const VERSION: string = (require("../../package.json") as { version: string }).version;

function mainUsage(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return `wireprobe ${VERSION}: packet probes for network checks (ARP, TCP SYN, ICMP, DNS, path MTU)

Usage: wireprobe COMMAND [options] ...

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join("\n")}

Run 'wireprobe COMMAND --help' for a command's options. Most commands need root or CAP_NET_RAW.`;
}

/** Why the run was stopped early: a signal, or a standard output that can no longer be written. */
class StdoutFailed extends Error {
  constructor(readonly failure: NodeJS.ErrnoException) {
    super(`stdout: ${failure.message}`);
  }
}

/** Runs the CLI and resolves to the process exit code. Never throws. */
export async function main(argv: string[]): Promise<number> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(sig === "SIGINT" ? 130 : 143);
    controller.abort(new Error(sig));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // A closed stdout (| head) stops the run as an interrupt does, so the output files are still completed;
  // the reader's choice, not an error: exit 0. Any other failure of stdout (a full disk) is exit 3.
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (!controller.signal.aborted) controller.abort(new StdoutFailed(err));
  };
  // (left in place after the run: a late write error must not become an uncaught exception)
  process.stdout.on("error", onStdoutError);
  /** The exit code of a run stopped early, once it has wound down. */
  const stoppedCode = (): number => {
    const why = controller.signal.reason as Error | undefined;
    if (why instanceof StdoutFailed) {
      if (why.failure.code === "EPIPE") return 0;
      process.stderr.write(`wireprobe: cannot write to stdout: ${why.failure.message}\n`);
      return 3;
    }
    return why?.message === "SIGTERM" ? 143 : 130;
  };
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      process.stdout.write(`${mainUsage()}\n`);
      return name === undefined ? 2 : 0;
    }
    if (name === "--version" || name === "-V") {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    const command = commands.find((c) => c.name === name)?.load();
    if (!command)
      throw new UsageError(`unknown command "${name}" (commands: ${commands.map((c) => c.name).join(", ")})`);
    const args = parseArgs(command.normalise ? command.normalise(rest) : rest, [
      ...command.options,
      HELP_OPTION,
    ]);
    if (getFlag(args, "help")) {
      process.stdout.write(`${command.usage}\n`);
      return 0;
    }
    const context = { argv: rest, stdout: process.stdout, stderr: process.stderr, signal: controller.signal };
    const code = await command.run(context, args);
    if (
      controller.signal.aborted &&
      !(command.stopsOnSignal && !(controller.signal.reason instanceof StdoutFailed))
    )
      return stoppedCode();
    return code;
  } catch (err) {
    const known = err instanceof UsageError || err instanceof EnvironmentError;
    if (controller.signal.aborted && !(known && controller.signal.reason instanceof StdoutFailed)) {
      // Whatever broke while a signal was tearing things down is the interruption, not a bug.
      if (!(controller.signal.reason instanceof StdoutFailed))
        process.stderr.write("wireprobe: interrupted\n");
      return stoppedCode();
    }
    if (known) {
      process.stderr.write(`wireprobe: ${err.message}\n`);
      if (process.env.WIREPROBE_DEBUG) process.stderr.write(`${debugChain(err)}\n`);
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(`wireprobe: internal error: ${e?.message ?? String(err)}\n`);
    if (process.env.WIREPROBE_DEBUG) process.stderr.write(`${debugChain(e)}\n`);
    return 4;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** WIREPROBE_DEBUG: the stack, and the error each one was caused by (errno, syscall). */
function debugChain(err: unknown): string {
  const lines: string[] = [];
  for (
    let e = err as (Error & { code?: string; syscall?: string }) | undefined, depth = 0;
    e && depth < 5;
    depth++
  ) {
    lines.push(
      `${depth > 0 ? "caused by: " : ""}${e.stack ?? String(e)}${e.syscall ? ` (syscall ${e.syscall}, ${e.code})` : ""}`,
    );
    e = e.cause as typeof e;
  }
  return lines.join("\n");
}
