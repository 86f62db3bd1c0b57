import { UsageError } from "../../errors";
import { formatArpReport } from "../../output/arp-report";
import { ARP_DEFAULTS, arp } from "../../probes/arp/arp";
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
    name: "interface",
    aliases: ["-i"],
    kind: "string",
    valueName: "NAME",
    help: "send from this interface (default: the one the kernel would use for each target)",
  },
  NETNS_OPTION,
  {
    name: "timeout",
    kind: "integer",
    min: 1,
    max: 600000,
    valueName: "MS",
    help: `per-attempt wait for a reply (default ${ARP_DEFAULTS.timeoutMs})`,
  },
  {
    name: "retries",
    kind: "integer",
    min: 0,
    max: 250,
    valueName: "N",
    help: `extra attempts for targets that did not answer (default ${ARP_DEFAULTS.retries})`,
  },
  {
    name: "rate",
    kind: "integer",
    min: 0,
    max: 10_000_000,
    valueName: "PPS",
    help: `requests per second, 0 = unlimited (default ${ARP_DEFAULTS.rate})`,
  },
  ipv6CapOption(),
  { name: "any-link", kind: "flag", help: "with -i: send ARP even for targets that are not on-link there" },
  { name: "json", kind: "flag", help: "one JSON record per line on stdout (every target, then a summary)" },
  { name: "all", kind: "flag", help: "list every target in the table, also in large sweeps" },
];

const usage = `Usage: wireprobe arp [options] TARGET...

Is this gateway or peer on my layer-2 segment? Sends ARP requests (IPv4) or NDP neighbour
solicitations (IPv6) and reports, per target, reply (with its MAC; several MACs = address
conflict), no-reply, or not-on-link (the kernel routes it via a gateway, so it cannot be a
next hop such as a flannel host-gw peer).

  TARGET   IPv4 or IPv6 address, CIDR (198.51.100.0/24, 2001:db8::/120), range
           (198.51.100.10-20) or name; both families may be mixed

Options:
${formatOptions(options)}

Exit codes: 0 every target replied, 1 some did not, 2 bad usage, 3 missing privilege or environment.`;

export const arpCommand: Command = {
  name: "arp",
  usage,
  options,
  async run(ctx: CommandContext, args: ParsedArgs): Promise<number> {
    if (args.positionals.length === 0) throw new UsageError("arp needs at least one TARGET (see --help)");
    const json = getFlag(args, "json");
    const run = arp(args.positionals, {
      ...opt("interface", getString(args, "interface")),
      ...opt("netns", getString(args, "netns")),
      ...opt("timeoutMs", getNumber(args, "timeout")),
      ...opt("retries", getNumber(args, "retries")),
      ...opt("rate", getNumber(args, "rate")),
      ...opt("ipv6Cap", getNumber(args, "ipv6-cap")),
      anyLink: getFlag(args, "any-link"),
      signal: ctx.signal,
    });
    let failed = 0;
    const records = await consume(run, ctx.stdout, {
      json,
      onRecord: (r) => {
        if (r.state !== "reply" && r.state !== "local") failed++;
      },
    });
    if (!json) ctx.stdout.write(`${formatArpReport(records, run.summary, getFlag(args, "all"))}\n`);
    return failed === 0 && !run.summary?.aborted ? 0 : 1;
  },
};
