import { readFileSync } from "node:fs";
import { check, DEFAULT_DNS_NAMES } from "../../check/check";
import { groupNodeWords, nodeListSpecs } from "../../check/nodes";
import { UsageError } from "../../errors";
import { RouteNames } from "../../net/rt-tables";
import { formatCheckReport } from "../../output/check-report";
import { formatJunit } from "../../output/junit";
import { planOutputs, writeOutput } from "../../output/output-file";
import { RACE_MAX_PAIRS } from "../../probes/dns/race";
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
import { commaList, opt } from "../lists";
import { TABLE_OPTION_HELP } from "./routes";

const options: OptionSpec[] = [
  {
    name: "input-list",
    aliases: ["-iL"],
    kind: "string",
    valueName: "FILE",
    help: "the cluster's nodes from a file ('-' = stdin, '#' comments; a line NAME=IP IP is one node)",
  },
  {
    name: "nodes",
    kind: "string",
    repeat: true,
    valueName: "[NAME=]IP,...",
    help: "the cluster's nodes: IPv4 or IPv6 addresses, CIDRs or ranges; NAME=IP4,IP6 is one dual-stack node",
  },
  {
    name: "node-port",
    kind: "string",
    repeat: true,
    valueName: "PORT[/udp],...",
    help: "nodePorts that must answer on every node: 30000, 30053/udp, 30000/tcp/ipv4 (one family only)",
  },
  {
    name: "dns",
    kind: "string",
    repeat: true,
    valueName: "IP[,IP...]",
    help: "cluster DNS servers, IPv4 or IPv6 (default: the namespace's resolv.conf)",
  },
  {
    name: "dns-name",
    kind: "string",
    repeat: true,
    valueName: "NAME",
    help: `names to ask every server (default ${DEFAULT_DNS_NAMES[0]})`,
  },
  {
    name: "dns-race",
    kind: "integer",
    min: 1,
    max: RACE_MAX_PAIRS,
    valueName: "N",
    help: "also race N A/AAAA pairs as glibc sends them (and N from two sockets) against every DNS server",
  },
  {
    name: "external",
    kind: "string",
    repeat: true,
    valueName: "IP[,IP...]",
    help: 'outside addresses to ping, to tell "network up, DNS down" apart',
  },
  { name: "mtu", kind: "flag", help: "probe the path MTU to every node: a black hole fails the mtu verdict" },
  {
    name: "expect-mtu",
    kind: "integer",
    min: 68,
    max: 65575,
    valueName: "BYTES",
    help: "the path MTU every node must carry (implies --mtu): less fails the mtu verdict",
  },
  {
    name: "mtu-target",
    kind: "string",
    repeat: true,
    valueName: "IP[,IP...]",
    help: "more addresses whose path MTU is probed (implies --mtu): pods on other nodes, over the overlay",
  },
  {
    name: "overlay",
    kind: "string",
    valueName: "NAME|BYTES",
    help: "the CNI's overlay (vxlan, geneve, ipip, gre, wireguard) or its overhead: the mtu fix subtracts it",
  },
  {
    name: "routes",
    kind: "flag",
    help: "also check the gateways of this node's routes (ARP/NDP, on-link, one MAC): verdict routes",
  },
  { name: "routes-table", kind: "string", valueName: "TABLE", help: `with --routes: ${TABLE_OPTION_HELP}` },
  NETNS_OPTION,
  { name: "interface", aliases: ["-i"], kind: "string", valueName: "NAME", help: "send from this interface" },
  {
    name: "resolv-conf",
    kind: "string",
    valueName: "FILE",
    help: "take the default DNS servers from this file",
  },
  {
    name: "timeout",
    kind: "integer",
    min: 1,
    max: 600000,
    valueName: "MS",
    help: "per-probe wait (default: each probe's own)",
  },
  {
    name: "rate",
    kind: "integer",
    min: 0,
    max: 10_000_000,
    valueName: "PPS",
    help: "packets per second of each probe: scan, ARP/NDP, DNS, ping (default: each probe's own)",
  },
  { name: "json", kind: "flag", help: "the probe records, then one verdict record per check, as NDJSON" },
  {
    name: "junit",
    kind: "string",
    valueName: "FILE",
    help: "also write the verdicts as a JUnit XML report (- for stdout)",
  },
];

const usage = `Usage: wireprobe check [options]

The node network diagnosis in one command, run on a node (or inside a pod's namespace with --netns).
Probes concurrently and prints three verdicts (more with --routes or --mtu), each with its evidence and the fix:
  host-gw   every peer node is on-link and answers ARP, or NDP over IPv6 (flannel host-gw can route to it)
  nodeport  every nodePort answers open on every node (TCP, or UDP with PORT/udp)
  dns       every DNS server answers every name, and all servers agree (kubelet --cluster-dns rule);
            with --dns-race N, also no server loses a query of glibc's parallel A/AAAA lookups (the
            5-second DNS race: single-request-reopen or NodeLocal DNSCache fixes it)
and with --routes:
  routes    every gateway of this node's routes (POD_CIDR via PEER) is on-link and answers from one MAC
and with --mtu, --expect-mtu or --mtu-target:
  mtu       the path MTU to every node is at least --expect-mtu, and no path drops bigger packets
            without an ICMP error (a black hole); the fix gives the CNI MTU

Nodes, DNS servers and outside addresses may be IPv4 or IPv6. A dual-stack node is one node with an address
of each family, written NAME=IPV4,IPV6 (or NAME=IPV4,NAME=IPV6); it passes a check only when both of its
addresses do, and the report gives each verdict per family.

Options:
${formatOptions(options)}

Interrupted (Ctrl-C, SIGTERM), it still prints the report, the records and the JUnit file, from what had
arrived: a verdict whose work did not finish is INCOMPLETE (never ok; a JUnit <error>) and names what was
not probed.

Exit codes: 0 every verdict ok, 1 some verdict failed or incomplete, 2 bad usage, 3 missing privilege or
environment, 130/143 interrupted.`;

export const checkCommand: Command = {
  name: "check",
  usage,
  options,
  async run(ctx: CommandContext, args: ParsedArgs): Promise<number> {
    if (args.positionals.length > 0) {
      throw new UsageError(
        `check takes no positional arguments (got "${args.positionals[0]}"); use --nodes or -iL`,
      );
    }
    // NAME= groups the addresses after it within one --nodes value (or one line of the list file).
    const values = args.options.get("nodes");
    const nodes = (values === undefined ? [] : Array.isArray(values) ? values : [values]).flatMap((v) =>
      groupNodeWords(commaList(v)),
    );
    const list = getString(args, "input-list");
    if (list !== undefined) {
      let text: string;
      try {
        text = readFileSync(list === "-" ? 0 : list, "utf8");
      } catch (err) {
        throw new UsageError(`cannot read the node list ${list}: ${(err as Error).message}`);
      }
      nodes.push(...nodeListSpecs(text));
    }
    const nodePorts = commaList(args.options.get("node-port"));
    const json = getFlag(args, "json");
    const routesTable = getString(args, "routes-table");
    const junit = getString(args, "junit");
    // Checked before anything is sent; "-" (or /dev/stdout) puts the JUnit report on stdout instead of the
    // human report.
    const junitPlan = junit === undefined ? undefined : planOutputs([{ option: "--junit", path: junit }])[0]!;
    if (json && junitPlan?.how === "stdout") throw new UsageError("only one output can go to stdout");
    const run = check({
      nodes,
      nodePorts,
      dnsServers: commaList(args.options.get("dns")),
      dnsNames: commaList(args.options.get("dns-name")),
      external: commaList(args.options.get("external")),
      ...(getFlag(args, "mtu") ? { mtu: true } : {}),
      ...opt("expectMtu", getNumber(args, "expect-mtu")),
      mtuTargets: commaList(args.options.get("mtu-target")),
      ...opt("overlay", getString(args, "overlay")),
      ...opt("dnsRace", getNumber(args, "dns-race")),
      ...opt("netns", getString(args, "netns")),
      ...opt("interface", getString(args, "interface")),
      ...opt("resolvConf", getString(args, "resolv-conf")),
      ...opt("timeoutMs", getNumber(args, "timeout")),
      ...opt("rate", getNumber(args, "rate")),
      ...(getFlag(args, "routes") || routesTable !== undefined ? { routes: true } : {}),
      ...opt("routesTable", routesTable === undefined ? undefined : new RouteNames().parseTable(routesTable)),
      signal: ctx.signal,
      onNotice: (m) => ctx.stderr.write(`wireprobe: ${m}\n`),
    });
    await consume(run, ctx.stdout, { json });
    const result = run.result!;
    if (!json && junitPlan?.how !== "stdout") ctx.stdout.write(`${formatCheckReport(result)}\n`);
    if (junitPlan !== undefined) {
      await writeOutput(junitPlan, ctx.stdout, formatJunit(result.verdicts, result.durationMs));
    }
    return result.verdicts.every((v) => v.ok) && !run.summary?.aborted ? 0 : 1;
  },
};
