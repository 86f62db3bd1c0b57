import { UsageError } from "../../errors";
import { formatPingReport } from "../../output/ping-report";
import { PING_DEFAULTS, ping } from "../../probes/icmp/ping";
import {
  formatOptions,
  getFlag,
  getNumber,
  getString,
  ipv6CapOption,
  NETNS_OPTION,
  type OptionSpec,
  type ParsedArgs,
} from "../args";
import type { Command, CommandContext } from "../command";
import { consume } from "../consume";
import { opt } from "../lists";

const options: OptionSpec[] = [
  {
    name: "count",
    aliases: ["-c"],
    kind: "integer",
    min: 1,
    max: 65535,
    valueName: "N",
    help: `echo requests per target (default ${PING_DEFAULTS.count})`,
  },
  {
    name: "interval",
    kind: "integer",
    min: 0,
    max: 3600000,
    valueName: "MS",
    help: `between the requests to one target (default ${PING_DEFAULTS.intervalMs}); -i SECONDS as in iputils`,
  },
  {
    name: "timeout",
    kind: "integer",
    min: 1,
    max: 600000,
    valueName: "MS",
    help: `wait for replies after the last request (default ${PING_DEFAULTS.timeoutMs}); -W SECONDS as in iputils`,
  },
  {
    name: "rate",
    kind: "integer",
    min: 0,
    max: 10_000_000,
    valueName: "PPS",
    help: `requests per second over all targets, 0 = unlimited (default ${PING_DEFAULTS.rate})`,
  },
  {
    name: "interface",
    aliases: ["-I", "-i"],
    kind: "string",
    valueName: "IFACE",
    help: "send out of this interface (SO_BINDTODEVICE); -i with a number is iputils' interval instead",
  },
  NETNS_OPTION,
  ipv6CapOption(),
  {
    name: "unprivileged",
    kind: "flag",
    help: "use an ICMP datagram socket even as root (what non-root users get; no ICMP errors)",
  },
  { name: "json", kind: "flag", help: "one JSON record per line on stdout (every target, then a summary)" },
  { name: "all", kind: "flag", help: "list every target in the table, also in large sweeps" },
];

const usage = `Usage: wireprobe ping [options] TARGET...

Does it answer ICMP echo? Per target: reply (with loss and round-trip times), unreachable (an
ICMP error from a router or from this host, or no route: says which and from where), or
no-reply. As root it uses a raw ICMP socket; without root an ICMP datagram socket, where
net.ipv4.ping_group_range allows (the kernel then hides ICMP errors: unreachable shows as
no-reply unless there is no route). IPv6 targets get ICMPv6 echo (as ping -6), in the same run.

  TARGET   IPv4 address, CIDR (198.51.100.0/24) or nmap-style range (198.51.100.10-20);
           IPv6 address (2001:db8::1), prefix (2001:db8::/120) or last-group range (2001:db8::1-ff)

Options:
${formatOptions(options)}

Exit codes: 0 every target replied, 1 some did not, 2 bad usage, 3 missing privilege or environment.`;

const SECONDS = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/;

/**
 * iputils ping's spellings of the timing options, rewritten to ours: -i SECONDS (the interval; -i with
 * anything but a number stays wireprobe's interface option) and -W SECONDS (the wait for replies), values
 * glued or not ("-i0.2", "-W 1"). -c N and -I IFACE are options of their own.
 */
function normaliseArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k]!;
    if (arg === "--") {
      out.push(...argv.slice(k));
      break;
    }
    const m = /^-([iW])(.*)$/.exec(arg);
    const value = m ? (m[2] !== "" ? m[2] : argv[k + 1]) : undefined;
    if (!m || value === undefined) {
      out.push(arg);
      continue;
    }
    if (m[2] === "") k++;
    if (SECONDS.test(value)) {
      out.push(m[1] === "i" ? "--interval" : "--timeout", String(Math.round(Number(value) * 1000)));
    } else if (m[1] === "i") {
      out.push("--interface", value);
    } else {
      throw new UsageError(`option -W needs a number of seconds, got "${value}"`);
    }
  }
  return out;
}

export const pingCommand: Command = {
  name: "ping",
  usage,
  options,
  normalise: normaliseArgv,
  async run(ctx: CommandContext, args: ParsedArgs): Promise<number> {
    if (args.positionals.length === 0) throw new UsageError("ping needs at least one TARGET (see --help)");
    const json = getFlag(args, "json");
    const run = ping(args.positionals, {
      ...opt("count", getNumber(args, "count")),
      ...opt("intervalMs", getNumber(args, "interval")),
      ...opt("timeoutMs", getNumber(args, "timeout")),
      ...opt("rate", getNumber(args, "rate")),
      ...opt("interface", getString(args, "interface")),
      ...opt("netns", getString(args, "netns")),
      ...opt("ipv6Cap", getNumber(args, "ipv6-cap")),
      mode: getFlag(args, "unprivileged") ? "dgram" : "auto",
      signal: ctx.signal,
    });
    let failed = 0;
    const records = await consume(run, ctx.stdout, {
      json,
      onRecord: (r) => {
        if (r.state !== "reply") failed++;
      },
    });
    if (!json) {
      ctx.stdout.write(`${formatPingReport(records, run.summary, getFlag(args, "all"))}\n`);
      if (run.mode === "dgram" && failed > 0) {
        ctx.stderr.write(
          "wireprobe: note: unprivileged ICMP datagram socket: ICMP errors are not visible, so unreachable targets show as no-reply\n",
        );
      }
    }
    return failed === 0 && !run.summary?.aborted ? 0 : 1;
  },
};
