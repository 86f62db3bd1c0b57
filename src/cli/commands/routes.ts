import { routesVerdict } from "../../check/verdict-routes";
import { UsageError } from "../../errors";
import { RouteNames } from "../../net/rt-tables";
import { formatRoutesReport } from "../../output/routes-report";
import { ARP_DEFAULTS } from "../../probes/arp/arp";
import { routes } from "../../probes/routes/routes";
import type { RouteRecord } from "../../records";
import {
  formatOptions,
  getFlag,
  getNumber,
  getString,
  NETNS_OPTION,
  type OptionSpec,
  type ParsedArgs,
} from "../args";
import type { Command, CommandContext } from "../command";
import { consume } from "../consume";
import { opt } from "../lists";

/** --table: shared with `check --routes-table`. */
export const TABLE_OPTION_HELP =
  "main, local, default, all, a number or a name from rt_tables (default: those in use)";

const options: OptionSpec[] = [
  NETNS_OPTION,
  { name: "table", kind: "string", valueName: "TABLE", help: TABLE_OPTION_HELP },
  {
    name: "timeout",
    kind: "integer",
    min: 1,
    max: 600000,
    valueName: "MS",
    help: `per-attempt wait for a gateway's answer (default ${ARP_DEFAULTS.timeoutMs})`,
  },
  {
    name: "retries",
    kind: "integer",
    min: 0,
    max: 250,
    valueName: "N",
    help: `extra attempts for a gateway that did not answer (default ${ARP_DEFAULTS.retries})`,
  },
  {
    name: "rate",
    kind: "integer",
    min: 0,
    max: 10_000_000,
    valueName: "PPS",
    help: `requests per second, 0 = unlimited (default ${ARP_DEFAULTS.rate})`,
  },
  {
    name: "json",
    kind: "flag",
    help: "one JSON record per line on stdout (every gateway route, then a summary)",
  },
  { name: "all", kind: "flag", help: "list every route in the table, also for large routing tables" },
];

const usage = `Usage: wireprobe routes [options]

Do the gateways of this node's routes answer? Reads the routing tables over netlink (IPv4 and IPv6, every
table a policy rule looks up), and asks every gateway (each next hop of a multipath route) with ARP or NDP on
the route's own interface, once however many routes go through it. Reports per route:
  ok           the gateway answered from one MAC
  no-reply     nobody answered (the peer moved or died: the route's traffic vanishes)
  not-on-link  the gateway is in none of the interface's prefixes, and the route is not onlink
  conflict     more than one MAC answered
  not-probed   a link without ARP/NDP (tunnel), or interrupted first
and compares the answer with the kernel's neighbour entry (a permanent entry with an old MAC is stale).
flannel host-gw and static routing leave a route per peer (POD_CIDR via PEER) that outlives the peer.

Options:
${formatOptions(options)}

The tables in use: every table a policy rule looks up (ip rule), and main, local and default.
Exit codes: 0 the routes verdict is ok (a tunnel's routes and gateways the kernel never asks for do not count),
1 it is not (or interrupted), 2 bad usage, 3 missing privilege or environment.`;

export const routesCommand: Command = {
  name: "routes",
  usage,
  options,
  async run(ctx: CommandContext, args: ParsedArgs): Promise<number> {
    if (args.positionals.length > 0)
      throw new UsageError(`routes takes no positional arguments (got "${args.positionals[0]}")`);
    const json = getFlag(args, "json");
    const tableSpec = getString(args, "table");
    const table = tableSpec === undefined ? undefined : new RouteNames().parseTable(tableSpec);
    const run = routes({
      ...opt("netns", getString(args, "netns")),
      ...opt("table", table),
      ...opt("timeoutMs", getNumber(args, "timeout")),
      ...opt("retries", getNumber(args, "retries")),
      ...opt("rate", getNumber(args, "rate")),
      signal: ctx.signal,
    });
    // The exit code is the routes verdict's: a gateway the kernel never asks for (a VXLAN overlay's) may be
    // silent, a permanent neighbour entry with an old MAC may not.
    const seen: RouteRecord[] = [];
    await consume(run, ctx.stdout, { json, onRecord: (r) => seen.push(r) });
    if (!json) ctx.stdout.write(`${formatRoutesReport(seen, run.summary, getFlag(args, "all"))}\n`);
    const aborted = run.summary?.aborted === true;
    return routesVerdict(seen, { aborted }).ok && !aborted ? 0 : 1;
  },
};
