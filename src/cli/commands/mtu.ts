import { UsageError } from "../../errors";
import { formatMtuReport } from "../../output/mtu-report";
import { MTU_DEFAULTS, mtu } from "../../probes/mtu/mtu";
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

const SIZE = { kind: "integer", min: 36, max: 65575, valueName: "BYTES" } as const;

const options: OptionSpec[] = [
  {
    name: "expect-mtu",
    ...SIZE,
    min: 68,
    help: "the path MTU every target should reach: below it is a failure (state below-expected)",
  },
  {
    name: "min",
    ...SIZE,
    help: `the smallest size tried, and the first (default ${MTU_DEFAULTS.min4}; IPv6 ${MTU_DEFAULTS.min6})`,
  },
  {
    name: "max",
    ...SIZE,
    help: "the largest size tried (default, and at most: the MTU of the interface the route leaves by)",
  },
  {
    name: "retries",
    kind: "integer",
    min: 0,
    max: 10,
    valueName: "N",
    help: `probes again a size that met silence before it counts as dropped (default ${MTU_DEFAULTS.retries})`,
  },
  {
    name: "timeout",
    kind: "integer",
    min: 1,
    max: 600000,
    valueName: "MS",
    help: `the longest a probe waits (default ${MTU_DEFAULTS.timeoutMs}; adapts to each target's round trips below it)`,
  },
  {
    name: "rate",
    kind: "integer",
    min: 0,
    max: 10_000_000,
    valueName: "PPS",
    help: `probes per second over all targets, 0 = unlimited (default ${MTU_DEFAULTS.rate})`,
  },
  {
    name: "interface",
    aliases: ["-i", "-I"],
    kind: "string",
    valueName: "IFACE",
    help: "send out of this interface (SO_BINDTODEVICE); its MTU is the default --max",
  },
  NETNS_OPTION,
  ipv6CapOption(),
  { name: "json", kind: "flag", help: "one JSON record per line on stdout (every target, then a summary)" },
];

const usage = `Usage: wireprobe mtu [options] TARGET...

The path MTU to each target: the largest packet that gets through with Don't Fragment (IPv6: unfragmented),
found by a search over ICMP echo sizes, and what the path does with bigger ones: a router answers
"fragmentation needed" / "packet too big" (path MTU discovery works: state reduced, with the router and the
MTU it announced), or they vanish without a word (state black-hole: connections that send full-size packets
hang while ping and handshakes work). Sizes are whole IP packets, headers included, as 'ip link' counts an MTU.
Many targets are searched at once; IPv4 and IPv6 in one run. Needs root or CAP_NET_RAW.

The probes ignore the kernel's path MTU cache (IP_PMTUDISC_PROBE): a frag-needed received earlier, by this run
or by anything else, cannot make the kernel refuse a probe or answer for the path. Errors are believed only
when they quote a probe of this run and announce an MTU that fits what got through.

  TARGET   IPv4 address, CIDR (198.51.100.0/24) or nmap-style range (198.51.100.10-20);
           IPv6 address (2001:db8::1), prefix (2001:db8::/120) or last-group range (2001:db8::1-ff)

Options:
${formatOptions(options)}

Exit codes: 0 every target reached its interface's MTU, or less with working path MTU discovery (and at least
--expect-mtu); 1 a black hole, a path below --expect-mtu, or a target that did not answer; 2 bad usage; 3
missing privilege or environment.`;

const PASSING = new Set(["ok", "reduced"]);

export const mtuCommand: Command = {
  name: "mtu",
  usage,
  options,
  async run(ctx: CommandContext, args: ParsedArgs): Promise<number> {
    if (args.positionals.length === 0) throw new UsageError("mtu needs at least one TARGET (see --help)");
    const json = getFlag(args, "json");
    const run = mtu(args.positionals, {
      ...opt("expectMtu", getNumber(args, "expect-mtu")),
      ...opt("min", getNumber(args, "min")),
      ...opt("max", getNumber(args, "max")),
      ...opt("retries", getNumber(args, "retries")),
      ...opt("timeoutMs", getNumber(args, "timeout")),
      ...opt("rate", getNumber(args, "rate")),
      ...opt("interface", getString(args, "interface")),
      ...opt("netns", getString(args, "netns")),
      ...opt("ipv6Cap", getNumber(args, "ipv6-cap")),
      signal: ctx.signal,
    });
    let failed = 0;
    const records = await consume(run, ctx.stdout, {
      json,
      onRecord: (r) => {
        if (!PASSING.has(r.state) && r.state !== "local") failed++;
      },
    });
    if (!json) ctx.stdout.write(`${formatMtuReport(records, run.summary)}\n`);
    return failed === 0 && !run.summary?.aborted ? 0 : 1;
  },
};
