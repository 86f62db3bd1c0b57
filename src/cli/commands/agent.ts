import { DEFAULT_INTERVAL_MS, DEFAULT_MAX_RATE, startAgent } from "../../agent/agent";
import { formatDuration, parseDuration } from "../../agent/duration";
import { DEFAULT_LISTEN } from "../../agent/http";
import { DEFAULT_MAX_PEERS } from "../../agent/peers";
import { UsageError } from "../../errors";
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
import { commaList, opt } from "../lists";

const options: OptionSpec[] = [
  {
    name: "nodes",
    kind: "string",
    repeat: true,
    valueName: "[NAME=]IP,...",
    help: "peer nodes: IPv4 or IPv6 addresses, CIDRs or ranges; NAME=IP4,IP6 is one dual-stack node",
  },
  {
    name: "nodes-file",
    kind: "string",
    valueName: "FILE",
    help: "peer nodes from a file (check's -iL format), read again when it changes; at most 1 MiB",
  },
  {
    name: "peers-dns",
    kind: "string",
    valueName: "NAME",
    help: "peer nodes: the A and AAAA records of NAME (a headless Service), asked each round",
  },
  {
    name: "peers-dns-server",
    kind: "string",
    repeat: true,
    valueName: "IP[,IP...]",
    help: "the servers to ask for --peers-dns (default: the namespace's resolv.conf)",
  },
  {
    name: "max-peers",
    kind: "integer",
    min: 1,
    max: 4096,
    valueName: "N",
    help: `at most N peer addresses (default ${DEFAULT_MAX_PEERS}); beyond, the list is cut (logged, counted)`,
  },
  {
    name: "peer-networks",
    kind: "string",
    repeat: true,
    valueName: "CIDR,...",
    help: "refuse peers outside these networks (logged, counted)",
  },
  {
    name: "interval",
    kind: "string",
    valueName: "DURATION",
    help: `time between rounds: 500ms, 30s, 2m (default ${formatDuration(DEFAULT_INTERVAL_MS)}); each round starts up to 20% of it late, at random`,
  },
  {
    name: "max-rate",
    kind: "integer",
    min: 1,
    max: 1_000_000,
    valueName: "PPS",
    help: `packets per second, every probe of a round together (default ${DEFAULT_MAX_RATE})`,
  },
  {
    name: "listen",
    kind: "string",
    valueName: "ADDR:PORT",
    help: `serve /metrics, /healthz, /results here (default ${DEFAULT_LISTEN}; IPv6 as [ADDR]:PORT)`,
  },
  {
    name: "node-name",
    kind: "string",
    valueName: "NAME",
    help: "the node label of every metric (default: env NODE_NAME, else the host name)",
  },
  NODE_PORT_OPTION,
  DNS_SERVERS_OPTION,
  DNS_NAME_OPTION,
  EXTERNAL_OPTION,
  { name: "routes", kind: "flag", help: "also check the gateways of this node's routes (verdict routes)" },
  { name: "mtu", kind: "flag", help: "also probe the path MTU to every peer (verdict mtu)" },
  NETNS_OPTION,
  INTERFACE_OPTION,
  RESOLV_CONF_OPTION,
  PROBE_TIMEOUT_OPTION,
];

const usage = `Usage: wireprobe agent [options]

Runs 'wireprobe check' against the peer nodes every --interval, for as long as it runs (a DaemonSet's
container), and serves the results over HTTP, read-only (GET and HEAD):
  /metrics   Prometheus metrics (wireprobe_peer_adjacent, wireprobe_nodeport_open, wireprobe_dns_ok, ...)
  /healthz   200 "ok", or 503 with why the agent cannot probe (no privilege, interface or namespace gone)
  /results   the latest round's results as JSON

Peers come from --nodes, --nodes-file and --peers-dns (any together). One round at a time: a round that
overruns the interval delays the next (counted as late). SIGTERM or SIGINT stops it: the round under way
is abandoned, the server closed, exit 0.

Options:
${formatOptions(options)}

Exit codes: 0 stopped by a signal, 2 bad usage, 3 cannot listen or missing environment.`;

export const agentCommand: Command = {
  name: "agent",
  usage,
  options,
  stopsOnSignal: true,
  async run(ctx: CommandContext, args: ParsedArgs): Promise<number> {
    if (args.positionals.length > 0)
      throw new UsageError(`agent takes no positional arguments (got "${args.positionals[0]}")`);
    const interval = getString(args, "interval");
    const listen = getString(args, "listen");
    const peerNetworks = commaList(args.options.get("peer-networks"));
    const nodesValues = args.options.get("nodes") as string[] | undefined;
    const agent = await startAgent({
      ...opt("nodes", nodesValues),
      ...opt("nodesFile", getString(args, "nodes-file")),
      ...opt("peersDns", getString(args, "peers-dns")),
      peersDnsServers: commaList(args.options.get("peers-dns-server")),
      ...opt("maxPeers", getNumber(args, "max-peers")),
      ...(peerNetworks.length > 0 ? { peerNetworks } : {}),
      ...opt("intervalMs", interval === undefined ? undefined : parseDuration(interval, "--interval")),
      ...opt("maxRate", getNumber(args, "max-rate")),
      ...opt("listen", listen),
      ...opt("nodeName", getString(args, "node-name")),
      nodePorts: commaList(args.options.get("node-port")),
      dnsServers: commaList(args.options.get("dns")),
      dnsNames: commaList(args.options.get("dns-name")),
      external: commaList(args.options.get("external")),
      ...(getFlag(args, "routes") ? { routes: true } : {}),
      ...(getFlag(args, "mtu") ? { mtu: true } : {}),
      ...opt("netns", getString(args, "netns")),
      ...opt("interface", getString(args, "interface")),
      ...opt("resolvConf", getString(args, "resolv-conf")),
      ...opt("timeoutMs", getNumber(args, "timeout")),
      signal: ctx.signal,
      log: (line) => ctx.stderr.write(`${new Date().toISOString()} wireprobe agent: ${line}\n`),
    });
    await agent.done;
    ctx.stderr.write(`${new Date().toISOString()} wireprobe agent: stopped\n`);
    return 0;
  },
};
