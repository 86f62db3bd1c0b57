import { execFileSync } from "node:child_process";
import { check } from "../../check/check";
import { buildClusterLab, type ClusterLab } from "../../demo/cluster-lab";
import { EnvironmentError } from "../../errors";
import { sweepStaleLabs } from "../../lab";
import { formatCheckReport } from "../../output/check-report";
import { formatOptions, getFlag, type OptionSpec, type ParsedArgs } from "../args";
import type { Command, CommandContext } from "../command";
import { consume } from "../consume";

const options: OptionSpec[] = [
  { name: "keep", kind: "flag", help: "leave the lab up afterwards and print how to probe it by hand" },
  { name: "down", kind: "flag", help: "remove demo labs left up with --keep, and nothing else" },
  { name: "healthy", kind: "flag", help: "build the well-planned cluster instead: every verdict passes" },
  {
    name: "dual-stack",
    kind: "flag",
    help: "give every host an IPv6 address too (2001:db8::/32): each verdict per family",
  },
  { name: "json", kind: "flag", help: "the check's records as NDJSON instead of the report" },
];

const usage = `Usage: wireprobe demo [--keep | --down] [--healthy] [--dual-stack] [--json]

Builds, on this machine, a small lab of network namespaces that reproduces a badly planned cluster: nodes on
one segment and one behind a router, a nodePort answering only where its pod runs, a node that drops the port,
two cluster DNS servers that disagree and a host rejecting DNS; and three failures that hide: an MTU black hole
on the way to the node behind the router, a host-gw route to a node that is gone, and the 5-second A/AAAA race
at the DNS Service. Runs \`wireprobe check --mtu --routes --dns-race\` against it from a node namespace, prints
the report and tears the lab down (also on Ctrl-C). It never touches the host namespace:
everything lives in namespaces named wpdemo-XXXX-*. Needs root, iproute2, nftables and dnsmasq.
With --dual-stack every host has an IPv6 address as well (2001:db8:1::/64 and its neighbours), the nodes are
named, and the report gives each verdict for IPv4 and for IPv6.

Options:
${formatOptions(options)}`;

const TOOLS: Array<[string, string]> = [
  ["ip", "iproute2"],
  ["nft", "nftables"],
  ["dnsmasq", "dnsmasq-base"],
  ["ss", "iproute2"],
];

function requireTools(): void {
  const missing = TOOLS.filter(([cmd]) => {
    try {
      execFileSync("sh", ["-c", `command -v ${cmd}`], {
        stdio: "ignore",
        env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` },
      });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map(([, p]) => p))];
    throw new EnvironmentError(
      `demo needs ${missing.map(([c]) => c).join(", ")}: apt-get install -y ${pkgs.join(" ")}`,
    );
  }
  if (process.getuid?.() !== 0) throw new EnvironmentError("demo needs root: it builds network namespaces");
}

/** The nodes as one --nodes value: "node1=198.51.100.11,2001:db8:1::11,node2=..." or the addresses. */
function nodesOption(c: ClusterLab): string {
  const out: string[] = [];
  let last = "";
  for (const spec of c.nodes) {
    const eq = spec.indexOf("=");
    if (eq < 0) out.push(spec);
    else if (spec.slice(0, eq) === last) out.push(spec.slice(eq + 1));
    else {
      last = spec.slice(0, eq);
      out.push(spec);
    }
  }
  return out.join(",");
}

function handInstructions(c: ClusterLab): string {
  const ns = c.node.ns;
  const v4 = c.nodeAddresses.filter((a) => !a.includes(":"));
  const v6 = c.nodeAddresses.filter((a) => a.includes(":"));
  // The scan's raw probes do not reach this host's own IPv6 address: a connect scan (-sT) does.
  const own6 = c.dualStack ? c.nodeAddresses.slice(0, 2).filter((a) => a.includes(":")) : [];
  const scanned = c.nodeAddresses.filter((a) => !own6.includes(a));
  const scans = [
    `  wireprobe scan --netns ${ns} -p ${c.nodePorts.join(",")} ${scanned.join(" ")}`,
    ...(own6.length > 0
      ? [`  wireprobe scan --netns ${ns} -sT -p ${c.nodePorts.join(",")} ${own6.join(" ")}`]
      : []),
  ];
  const nmap = [
    `  ip netns exec ${ns} nmap -Pn -n -p ${c.nodePorts.join(",")} ${v4.join(" ")}`,
    ...(v6.length > 0
      ? [`  ip netns exec ${ns} nmap -6 -Pn -n -p ${c.nodePorts.join(",")} ${v6.join(" ")}`]
      : []),
  ];
  return `The lab is left up. Probe it by hand from node1 (namespace ${ns}):

  wireprobe check --netns ${ns} --nodes ${nodesOption(c)} --node-port ${c.nodePorts.join(",")} \\
      --dns ${c.dnsServers.join(",")} --dns-name ${c.dnsNames.join(",")} --external ${c.external.join(",")} \\
      --mtu --overlay ${c.overlay} --routes --dns-race ${c.dnsRace}
  wireprobe arp --netns ${ns} ${c.nodeAddresses.join(" ")}
${scans.join("\n")}
  wireprobe dns --netns ${ns} --server ${c.dnsServers.join(",")} ${c.dnsNames.join(" ")}
${nmap.join("\n")}

Remove it with: wireprobe demo --down`;
}

export const demoCommand: Command = {
  name: "demo",
  usage,
  options,
  async run(ctx: CommandContext, args: ParsedArgs): Promise<number> {
    requireTools();
    if (getFlag(args, "down")) {
      const swept = await sweepStaleLabs(/^wpdemo-/, { includeKept: true });
      ctx.stdout.write(
        `demo: removed ${swept.removed.length} namespace(s)${swept.kept.length ? `; ${swept.kept.length} of a running demo left alone` : ""}\n`,
      );
      for (const e of swept.errors) ctx.stderr.write(`wireprobe: ${e.message}\n`);
      return swept.errors.length === 0 ? 0 : 1;
    }
    const layout = getFlag(args, "healthy") ? "healthy" : "broken";
    const dualStack = getFlag(args, "dual-stack");
    if (!getFlag(args, "json"))
      ctx.stderr.write(`demo: building the ${layout}${dualStack ? " dual-stack" : ""} cluster lab...\n`);
    const cluster = await buildClusterLab(layout, undefined, { dualStack });
    const keep = getFlag(args, "keep");
    try {
      const run = check({
        nodes: cluster.nodes,
        nodePorts: cluster.nodePorts,
        dnsServers: cluster.dnsServers,
        dnsNames: cluster.dnsNames,
        external: cluster.external,
        mtu: true,
        overlay: cluster.overlay,
        routes: true,
        dnsRace: cluster.dnsRace,
        netns: cluster.node.nsPath,
        timeoutMs: 500,
        signal: ctx.signal,
      });
      const json = getFlag(args, "json");
      await consume(run, ctx.stdout, { json });
      const result = run.result!;
      if (!json) {
        ctx.stdout.write(
          `wireprobe check, run from node1 (${cluster.nodeAddresses.slice(0, cluster.dualStack ? 2 : 1).join(", ")}, namespace ${cluster.node.ns}):\n\n${formatCheckReport(result)}\n`,
        );
      }
      if (keep && !ctx.signal.aborted) ctx.stderr.write(`\n${handInstructions(cluster)}\n`);
      const expectOk = layout === "healthy";
      // The demo succeeds when the check finds what the lab was built to show, from complete work only, on
      // every family.
      const shown = result.verdicts.every(
        (v) =>
          v.complete !== false &&
          v.ok === expectOk &&
          (v.families ?? []).every((f) => f.complete && f.ok === expectOk),
      );
      return shown ? 0 : 1;
    } finally {
      if (keep && !ctx.signal.aborted) cluster.lab.keep();
      else {
        const errors = await cluster.lab.destroy();
        for (const e of errors) ctx.stderr.write(`wireprobe: lab teardown: ${e.message}\n`);
      }
    }
  },
};
