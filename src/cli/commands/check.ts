import { readFileSync } from "node:fs";
import { check } from "../../check/check";
import { type KubeServices, nodesFromKubectl, servicesFromKubectl } from "../../check/kube";
import {
  familyOf,
  groupNodeWords,
  type NodeInput,
  type NodePortSpec,
  nodeAddresses,
  nodeListSpecs,
  nodePortLabel,
  parseNodes,
} from "../../check/nodes";
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
import {
  DNS_NAME_OPTION,
  DNS_SERVERS_OPTION,
  EXTERNAL_OPTION,
  INTERFACE_OPTION,
  NODE_PORT_OPTION,
  PROBE_TIMEOUT_OPTION,
  RESOLV_CONF_OPTION,
} from "../check-options";
import type { Command, CommandContext } from "../command";
import { consume } from "../consume";
import { commaList, opt, readInput } from "../lists";
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
    name: "kube-nodes",
    kind: "string",
    valueName: "FILE",
    help: "the nodes from `kubectl get nodes -o json` ('-' = stdin): each node's InternalIPs, both families",
  },
  {
    name: "kube-services",
    kind: "string",
    valueName: "FILE",
    help: "nodePorts and the kube-dns ClusterIPs from `kubectl get svc -A -o json` ('-' = stdin); adds to --node-port, --dns",
  },
  NODE_PORT_OPTION,
  DNS_SERVERS_OPTION,
  DNS_NAME_OPTION,
  {
    name: "dns-race",
    kind: "integer",
    min: 1,
    max: RACE_MAX_PAIRS,
    valueName: "N",
    help: "also race N A/AAAA pairs as glibc sends them (and N from two sockets) against every DNS server",
  },
  EXTERNAL_OPTION,
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
  INTERFACE_OPTION,
  RESOLV_CONF_OPTION,
  PROBE_TIMEOUT_OPTION,
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

The cluster's nodes, nodePorts and DNS servers may come from kubectl instead of lists typed by hand:
  kubectl get svc -A -o json > svc.json
  kubectl get nodes -o json | wireprobe check --kube-nodes - --kube-services svc.json
(InternalIPs of every node; every nodePort of a NodePort or LoadBalancer Service, TCP or UDP, with its family
when the Service has one; the kube-dns ClusterIPs. They add to --nodes, -iL, --node-port and --dns.)

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
        `check takes no positional arguments (got "${args.positionals[0]}"); use --nodes, -iL or --kube-nodes`,
      );
    }
    // NAME= groups the addresses after it within one --nodes value (or one line of the list file).
    const values = args.options.get("nodes");
    const nodes = (values === undefined ? [] : Array.isArray(values) ? values : [values]).flatMap((v) =>
      groupNodeWords(commaList(v)),
    );
    const list = getString(args, "input-list");
    const kubeNodesFile = getString(args, "kube-nodes");
    const kubeServicesFile = getString(args, "kube-services");
    const fromStdin = [
      ["-iL", list],
      ["--kube-nodes", kubeNodesFile],
      ["--kube-services", kubeServicesFile],
    ].filter(([, file]) => file === "-");
    if (fromStdin.length > 1) {
      throw new UsageError(
        `${fromStdin.map(([o]) => `${o} -`).join(" and ")}: only one input can read standard input; give the other a file`,
      );
    }
    // Both files are read and judged before anything is said, so that bad input ends in its one line.
    const notices: string[] = [];
    const kubeOptions = (option: string, file: string) => ({
      source: `${option} ${file === "-" ? "(standard input)" : file}`,
      onNotice: (m: string) => notices.push(m),
    });
    const kubeNodes: NodeInput[] = [];
    if (kubeNodesFile !== undefined) {
      const o = kubeOptions("--kube-nodes", kubeNodesFile);
      kubeNodes.push(...nodesFromKubectl(await readInput(kubeNodesFile, o.source), o));
      if (kubeNodes.length === 0) throw new UsageError(`${o.source}: no node with an InternalIP`);
    }
    let kube: KubeServices = { nodePorts: [], dnsServers: [], dnsService: null };
    if (kubeServicesFile !== undefined) {
      const o = kubeOptions("--kube-services", kubeServicesFile);
      kube = servicesFromKubectl(await readInput(kubeServicesFile, o.source), o);
    }
    if (list !== undefined) {
      let text: string;
      try {
        text = readFileSync(list === "-" ? 0 : list, "utf8");
      } catch (err) {
        throw new UsageError(`cannot read the node list ${list}: ${(err as Error).message}`);
      }
      nodes.push(...nodeListSpecs(text));
    }
    // kubectl's nodes, nodePorts and DNS servers add to the ones typed (a node, port or server in both is one)
    const allNodes: (string | NodeInput)[] = [...nodes, ...kubeNodes];
    // A single-family Service's nodePort where no node has that family (a dual-stack cluster whose kubelets
    // report one InternalIP): skipped with a notice, where a typed one is refused (check says why).
    const families = new Set(parseNodes(allNodes).flatMap(nodeAddresses).map(familyOf));
    const nodePorts: (string | NodePortSpec)[] = [...commaList(args.options.get("node-port"))];
    const unreachable: string[] = [];
    for (const p of kube.nodePorts) {
      if (allNodes.length > 0 && p.family && !families.has(p.family))
        unreachable.push(nodePortLabel({ protocol: "tcp", family: null, ...p }));
      else nodePorts.push(p);
    }
    if (unreachable.length > 0) {
      notices.push(
        `--kube-services: no node has an address of the family of nodePort ${unreachable.join(", ")}: not checked`,
      );
    }
    const dnsServers = [...commaList(args.options.get("dns")), ...kube.dnsServers];
    const json = getFlag(args, "json");
    const routesTable = getString(args, "routes-table");
    const junit = getString(args, "junit");
    // Checked before anything is sent; "-" (or /dev/stdout) puts the JUnit report on stdout instead of the
    // human report.
    const junitPlan = junit === undefined ? undefined : planOutputs([{ option: "--junit", path: junit }])[0]!;
    if (json && junitPlan?.how === "stdout") throw new UsageError("only one output can go to stdout");
    const run = check({
      nodes: allNodes,
      nodePorts,
      dnsServers,
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
    // after check() has judged the options: a refused check says its one line only
    for (const m of notices) ctx.stderr.write(`wireprobe: ${m}\n`);
    await consume(run, ctx.stdout, { json });
    const result = run.result!;
    if (!json && junitPlan?.how !== "stdout") ctx.stdout.write(`${formatCheckReport(result)}\n`);
    if (junitPlan !== undefined) {
      await writeOutput(junitPlan, ctx.stdout, formatJunit(result.verdicts, result.durationMs));
    }
    return result.verdicts.every((v) => v.ok) && !run.summary?.aborted ? 0 : 1;
  },
};
